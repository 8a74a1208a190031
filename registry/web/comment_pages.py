"""Review comments from the change-set page: on the set, on one operation, or a reply."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from registry.errors import RegistryError
from registry.services import comments
from registry.web.changeset_pages import cs_id_of, refuse
from registry.web.plumbing import field, whole_number
from registry.web.rendering import Web


def _number(form: FormData, name: str) -> int | None:
    raw = field(form, name)
    if not raw:
        return None
    found = whole_number(raw)
    return found if found is not None else -1  # names nothing: the service says so


def comment(web: Web, session: Session, form: FormData) -> Response:
    """Add the comment and show it in its thread."""
    assert web.actor is not None
    cs_id = cs_id_of(web)
    try:
        row = comments.add_comment(session, web.actor, cs_id, field(form, "body"),
                                   _number(form, "operation"), _number(form, "reply_to"))
    except RegistryError as exc:
        refuse(web, session, cs_id, exc)
    web.flash(web.t("cs.commented"))
    return web.redirect(f"{web.base}/change-sets/{cs_id}#c{row.id}")
