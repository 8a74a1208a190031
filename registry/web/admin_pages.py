"""The administrators' pages: API tokens (create, shown once; list; revoke) and the audit
page of who did what to which change set."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from registry.errors import RegistryError, ValidationError
from registry.models import ChangeSet, ChangeSetEvent
from registry.services import tokens
from registry.services.tokens import TOKEN_ROLES
from registry.web.errors import error_text, rule_text
from registry.web.plumbing import Rendered, field, login_redirect, require_admin, whole_number
from registry.web.rendering import Web

TOKEN_FIELDS = ("name", "role", "lists", "scope")
AUDIT_PAGE = 100


def _tokens(web: Web, session: Session, status: int = 200, values: dict[str, Any] | None = None,
            errors: dict[str, list[str]] | None = None) -> Response:
    return web.render("tokens.html", status, tokens=tokens.list_tokens(session),
                      role_options=[(r, web.t(f"role.{r}")) for r in TOKEN_ROLES],
                      values=values or {"role": "reader"}, errors=errors or {})


def tokens_page(web: Web, session: Session) -> Response:
    """Every token with its role, lists or scope and use; the form to create one."""
    if web.actor is None:
        return login_redirect(web)
    require_admin(web)
    return _tokens(web, session)


def create_token(web: Web, session: Session, form: FormData) -> Response:
    """Create a token; the next page shows its secret, once."""
    require_admin(web)
    assert web.actor is not None
    values = {name: field(form, name) for name in TOKEN_FIELDS}
    lists = [k.strip() for k in values["lists"].split(",") if k.strip()] or None
    try:
        created = tokens.create_token(session, web.actor, values["name"], values["role"],
                                      lists, values["scope"] or None)
    except ValidationError as exc:
        where = exc.field if exc.field in TOKEN_FIELDS else "name"
        raise Rendered(_tokens(web, session, 400, values,
                               {where: [rule_text(web.t, exc)]})) from None
    except RegistryError as exc:  # a name taken
        raise Rendered(_tokens(web, session, exc.http_status, values,
                               {"name": [error_text(web.t, exc)]})) from None
    return web.render("token_secret.html", 201, created=created)


def revoke_token(web: Web, session: Session, form: FormData) -> Response:
    """Revoke a token at once."""
    require_admin(web)
    assert web.actor is not None
    name = str(web.request.path_params["name"])
    tokens.revoke_token(session, web.actor, name)
    web.flash(web.t("tok.revoked", name=name))
    return web.redirect(f"{web.base}/tokens")


def audit_page(web: Web, session: Session) -> Response:
    """The review journal of every change set, newest first; ``?actor=`` narrows it to one
    person or token, ``?before=`` pages back."""
    if web.actor is None:
        return login_redirect(web)
    require_admin(web)
    actor = web.request.query_params.get("actor", "").strip()
    before = whole_number(web.request.query_params.get("before", ""))
    query = (select(ChangeSetEvent, ChangeSet.title)
             .join(ChangeSet, ChangeSet.id == ChangeSetEvent.change_set_id)
             .order_by(ChangeSetEvent.id.desc()).limit(AUDIT_PAGE + 1))
    if actor:
        query = query.where(ChangeSetEvent.actor == actor)
    if before is not None:
        query = query.where(ChangeSetEvent.id < before)
    rows = session.execute(query).all()
    older = rows[AUDIT_PAGE - 1][0].id if len(rows) > AUDIT_PAGE else None
    return web.render("audit.html", rows=rows[:AUDIT_PAGE], who=actor, older=older)
