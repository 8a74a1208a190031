"""The outbox: an event row written in the transaction that causes the event.

Publishing writes one row whatever the number of subscriptions (the worker fans it out),
so subscriptions cost publishing nothing; a rolled-back transaction takes its event with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry.models import ChangeSet, Operation, WebhookEvent

RELEASE_PUBLISHED = "release.published"
CHANGESET_STATUS = "changeset.status"
EVENTS = (RELEASE_PUBLISHED, CHANGESET_STATUS)
# PostgreSQL's channel on which a new event wakes the delivery workers at commit.
CHANNEL = "registry_webhooks"


def record_event(session: Session, kind: str, payload: dict[str, Any],
                 release_id: int | None = None, change_set_id: int | None = None) -> None:
    """Add an event to the outbox (flushed with the caller's transaction)."""
    session.add(WebhookEvent(kind=kind, payload=payload, release_id=release_id,
                             change_set_id=change_set_id, created_at=datetime.now(UTC)))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def record_release(session: Session, release: int, first_seq: int, last_seq: int,
                   published_at: datetime, note: str, change_set_id: int | None) -> None:
    """The ``release.published`` event of a release being closed."""
    record_event(session, RELEASE_PUBLISHED, {
        "release": release, "first_seq": first_seq, "last_seq": last_seq,
        "published_at": published_at.isoformat(), "note": note,
        "change_set": change_set_id}, release_id=release, change_set_id=change_set_id)


def record_status(session: Session, change_set: ChangeSet, action: str, actor: str,
                  comment: str | None) -> None:
    """The ``changeset.status`` event of a step of the review flow."""
    lists = sorted(session.scalars(select(Operation.list_key).distinct()
                                   .where(Operation.change_set_id == change_set.id)))
    record_event(session, CHANGESET_STATUS, {
        "change_set": change_set.id, "title": change_set.title, "status": change_set.status,
        "action": action, "actor": actor, "comment": comment, "lists": lists,
        "effective_date": change_set.effective_date.isoformat(),
        "legal_number": change_set.legal_number, "release": change_set.release_id,
    }, release_id=change_set.release_id, change_set_id=change_set.id)
