"""Adding, listing and removing webhook subscriptions (administrators only)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import NotFound, ValidationError
from registry.models import WebhookEvent, WebhookSubscription
from registry.services.actors import Actor
from registry.services.checksums import lists_at
from registry.services.feed import read_head
from registry.services.webhooks.outbox import EVENTS
from registry.services.webhooks.signing import new_secret
from registry.sync.protocol import parse_subscription
from registry.text import check_url

MAX_URL = 2048


def parse_events(raw: str | list[str] | None) -> list[str]:
    """The event names asked for (all of them when none is named); unknown ones refused."""
    names = (raw.split(",") if isinstance(raw, str) else list(raw or []))
    names = [name.strip() for name in names if name.strip()] or list(EVENTS)
    unknown = [name for name in names if name not in EVENTS]
    if unknown:
        raise ValidationError("events", "enum", f"unknown event {', '.join(map(repr, unknown))}"
                              f"; the events are: {', '.join(EVENTS)}")
    return sorted(set(names), key=EVENTS.index)


def add_subscription(session: Session, actor: Actor, url: str, events: str | list[str] | None,
                     lists: str | None = None, scope: str | None = None,
                     secret: str | None = None) -> WebhookSubscription:
    """A new subscription; it receives the events recorded from now on."""
    actor.require_role("admin")
    try:
        url = check_url(url, "url")
    except ValidationError as exc:
        if exc.rule != "url_scheme":
            raise
        raise ValidationError("url", "url_scheme",
                              "must be an http:// or https:// address of the receiver") from None
    if len(url) > MAX_URL:
        raise ValidationError("url", "max_length", f"is longer than {MAX_URL} characters")
    names = parse_events(events)
    wanted = parse_subscription(lists, scope)
    if wanted.lists is not None:
        known = {item.key for item in lists_at(session, read_head(session).release, None)}
        missing = sorted(set(wanted.lists) - known)
        if missing:
            raise ValidationError("lists", "unknown_list",
                                  f"no code list {', '.join(map(repr, missing))}; the lists "
                                  f"are: {', '.join(sorted(known)) or 'none yet'}")
    last = session.scalar(select(func.max(WebhookEvent.id))) or 0
    row = WebhookSubscription(
        url=url, secret=secret or new_secret(), events=names,
        lists=list(wanted.lists) if wanted.lists is not None else None,
        scope=str(wanted.scope) if wanted.scope else None, created_at=datetime.now(UTC),
        created_by=actor.name, last_event_id=last)
    session.add(row)
    session.flush()
    return row


def list_subscriptions(session: Session, include_removed: bool = False
                       ) -> list[WebhookSubscription]:
    """Subscriptions by id."""
    query = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if not include_removed:
        query = query.where(WebhookSubscription.removed_at.is_(None))
    return list(session.scalars(query))


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    """The subscription, or :class:`NotFound`."""
    row = session.get(WebhookSubscription, subscription_id)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    return row


def remove_subscription(session: Session, actor: Actor,
                        subscription_id: int) -> WebhookSubscription:
    """Stop a subscription; its delivery log is kept."""
    actor.require_role("admin")
    row = get_subscription(session, subscription_id)
    if row.removed_at is None:
        row.removed_at = datetime.now(UTC)
        session.flush()
    return row
