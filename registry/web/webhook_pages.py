"""The administrators' webhook pages: subscriptions, the add form (the secret shown once),
each subscription's delivery log, replaying dead letters and removing a subscription."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from registry.errors import NotFound, ValidationError
from registry.models import WebhookDelivery
from registry.services.webhooks import deliveries, subscriptions
from registry.services.webhooks.outbox import EVENTS
from registry.web.errors import rule_text
from registry.web.plumbing import Rendered, field, login_redirect, require_admin, whole_number
from registry.web.rendering import Web

FIELDS = ("url", "lists", "scope")


def _counts(session: Session) -> dict[tuple[int, str], int]:
    D = WebhookDelivery
    return {(sub, status): count for sub, status, count in session.execute(
        select(D.subscription_id, D.status, func.count()).group_by(D.subscription_id,
                                                                   D.status))}


def _list(web: Web, session: Session, status: int = 200, values: dict[str, Any] | None = None,
          errors: dict[str, list[str]] | None = None) -> Response:
    return web.render("webhooks.html", status, subscriptions=subscriptions.list_subscriptions(
        session), counts=_counts(session), events=EVENTS,
        values=values or {"events": list(EVENTS)}, errors=errors or {})


def list_page(web: Web, session: Session) -> Response:
    """Every subscription with its deliveries by status, and the form to add one."""
    if web.actor is None:
        return login_redirect(web)
    require_admin(web)
    return _list(web, session)


def add(web: Web, session: Session, form: FormData) -> Response:
    """Add a subscription; the page that follows shows its secret, once."""
    require_admin(web)
    assert web.actor is not None
    values: dict[str, Any] = {name: field(form, name) for name in FIELDS}
    values["events"] = [e for e in form.getlist("events") if isinstance(e, str)]
    errors: dict[str, list[str]] = {}
    if not values["url"]:
        errors["url"] = [web.t("error.required")]
    elif not values["events"]:
        errors["events"] = [web.t("wh.events_required")]
    else:
        try:
            created = subscriptions.add_subscription(
                session, web.actor, values["url"], values["events"],
                values["lists"] or None, values["scope"] or None)
        except ValidationError as exc:
            errors[exc.field if exc.field in (*FIELDS, "events") else "url"] = [
                rule_text(web.t, exc)]
    if errors:
        raise Rendered(_list(web, session, 400, values, errors))
    return web.render("webhook_secret.html", 201, subscription=created)


def _subscription_id(web: Web) -> int:
    found = whole_number(str(web.request.path_params["sub_id"]))
    if found is None:
        raise NotFound(f"no webhook subscription {web.request.path_params['sub_id']}")
    return found


def detail_page(web: Web, session: Session) -> Response:
    """One subscription's delivery log: each delivery with its attempts."""
    if web.actor is None:
        return login_redirect(web)
    require_admin(web)
    row = subscriptions.get_subscription(session, _subscription_id(web))
    rows = deliveries.deliveries_of(session, row.id, limit=100)
    return web.render("webhook.html", subscription=row, deliveries=rows,
                      attempts=deliveries.attempts_of(session, [d.id for d in rows]),
                      dead=sum(d.status == deliveries.DEAD for d in rows))


def replay(web: Web, session: Session, form: FormData) -> Response:
    """Send the subscription's dead letters again."""
    require_admin(web)
    assert web.actor is not None
    sub_id = subscriptions.get_subscription(session, _subscription_id(web)).id
    count = deliveries.replay(session, web.actor, subscription_id=sub_id)
    web.flash(web.t("wh.replayed", n=count))
    return web.redirect(f"{web.base}/webhooks/{sub_id}")


def remove(web: Web, session: Session, form: FormData) -> Response:
    """Stop the subscription; its log stays."""
    require_admin(web)
    assert web.actor is not None
    row = subscriptions.remove_subscription(session, web.actor, _subscription_id(web))
    web.flash(web.t("wh.removed", id=row.id))
    return web.redirect(f"{web.base}/webhooks")
