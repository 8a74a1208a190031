"""Webhooks: subscriptions, the event outbox, and each delivery with its attempts.

Events are written in the transaction that causes them (a release, a change set's new
status), so a rolled-back publication sends nothing and a crash loses nothing; deliveries,
retries and dead letters are rows, never memory (DESIGN §11).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class WebhookSubscription(Base):
    """A receiver URL, the events it wants, and its filter (lists, at most one scope)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    # The signing key (``whsec_`` + base64). Kept as is: the server must sign with it.
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[Any]]
    lists: Mapped[list[Any] | None]
    scope: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last outbox event turned into this subscription's deliveries (or skipped).
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    # One worker at a time per subscription, which keeps its deliveries in order.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(64))


class WebhookEvent(Base):
    """The outbox: one row per event, whatever the number of subscriptions."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # release.published | changeset.status
    release_id: Mapped[int | None] = mapped_column(Integer)
    change_set_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """One event for one subscription: its body (fixed once written) and where it stands."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_deliveries_pending", "subscription_id", "status", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id"))
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Retries stop (the delivery is parked as dead) once this is older than the window;
    # a replay starts a new window.
    retry_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(Base):
    """The delivery log: one row per POST, with its outcome and latency."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
