"""Where each delivery stands: leases, the next due delivery, attempts, dead letters, replays.

A subscription's deliveries go out one at a time in event order: the oldest pending one
blocks the later ones while it is retried, so a receiver sees releases in order. Retries
back off exponentially with jitter until the retry window (24 hours by default) has passed;
then the delivery is parked as ``dead`` and the next one goes. An administrator replays
dead letters, which starts a new window.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from registry.errors import NotFound, ValidationError
from registry.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from registry.models import WebhookSubscription as Subscription
from registry.services.actors import Actor

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(name, "number", f"'{raw}' is not a number of seconds") from None
    if value <= 0:
        raise ValidationError(name, "positive", "must be more than 0 seconds")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a failed delivery is retried, and each POST's timeout."""

    window: float = 86400.0
    backoff: float = 5.0
    backoff_max: float = 3600.0
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """``REGISTRY_WEBHOOK_RETRY_SECONDS``, ``…_BACKOFF_SECONDS``,
        ``…_BACKOFF_MAX_SECONDS`` and ``…_TIMEOUT_SECONDS`` (seconds)."""
        base = cls()
        return cls(window=_seconds("REGISTRY_WEBHOOK_RETRY_SECONDS", base.window),
                   backoff=_seconds("REGISTRY_WEBHOOK_BACKOFF_SECONDS", base.backoff),
                   backoff_max=_seconds("REGISTRY_WEBHOOK_BACKOFF_MAX_SECONDS",
                                        base.backoff_max),
                   timeout=_seconds("REGISTRY_WEBHOOK_TIMEOUT_SECONDS", base.timeout))

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failures: exponential, capped,
        with jitter (half to all of it) so that receivers coming back are not stampeded."""
        ceiling = min(self.backoff_max, self.backoff * 2 ** min(attempts - 1, 30))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Outcome:
    """What one POST came to."""

    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        """A 2xx answer: anything else is retried."""
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Due:
    """The delivery to POST next, with what the POST needs."""

    delivery_id: int
    kind: str
    body: str
    url: str
    secret: str
    subscription_id: int


def _aware(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive (in UTC).
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def claim_all(session: Session, owner: str, now: datetime, seconds: float) -> list[int]:
    """Take the leases of the subscriptions that have work now and nobody serves; return
    their ids. Two statements whatever their number (no UPDATE … RETURNING: MariaDB)."""
    candidates = subscriptions_with_work(session, now)
    if not candidates:
        return []
    until = now + timedelta(seconds=seconds)
    free = or_(Subscription.lease_until.is_(None), Subscription.lease_until < now,
               Subscription.lease_owner == owner)
    session.execute(update(Subscription)
                    .where(Subscription.id.in_(candidates), Subscription.removed_at.is_(None),
                           free)
                    .values(lease_until=until, lease_owner=owner)
                    .execution_options(synchronize_session=False))
    return list(session.scalars(select(Subscription.id)
                                .where(Subscription.id.in_(candidates),
                                       Subscription.lease_owner == owner)
                                .order_by(Subscription.id)))


def renew(session: Session, owner: str, ids: list[int], now: datetime,
          seconds: float) -> None:
    """Extend the leases this worker holds on ``ids``."""
    if ids:
        session.execute(update(Subscription)
                        .where(Subscription.id.in_(ids), Subscription.lease_owner == owner)
                        .values(lease_until=now + timedelta(seconds=seconds))
                        .execution_options(synchronize_session=False))


def release_leases(session: Session, owner: str, ids: list[int]) -> None:
    """Give the leases back."""
    if ids:
        session.execute(update(Subscription)
                        .where(Subscription.id.in_(ids), Subscription.lease_owner == owner)
                        .values(lease_until=None, lease_owner=None)
                        .execution_options(synchronize_session=False))


def subscriptions_with_work(session: Session, now: datetime) -> list[int]:
    """Active subscriptions with events to fan out or a delivery due, whose lease is free."""
    newest = session.scalar(select(func.max(WebhookEvent.id))) or 0
    due = exists().where(WebhookDelivery.subscription_id == Subscription.id,
                         WebhookDelivery.status == PENDING,
                         WebhookDelivery.next_attempt_at <= now)
    return list(session.scalars(
        select(Subscription.id)
        .where(Subscription.removed_at.is_(None),
               or_(Subscription.lease_until.is_(None), Subscription.lease_until < now),
               or_(Subscription.last_event_id < newest, due))
        .order_by(Subscription.id)))


def next_wake(session: Session) -> datetime | None:
    """When the earliest waiting retry falls due."""
    value = session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at))
        .join(Subscription, Subscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.status == PENDING, Subscription.removed_at.is_(None)))
    return _aware(value) if value is not None else None


def due_heads(session: Session, ids: list[int], now: datetime) -> list[Due]:
    """Of each subscription in ``ids``, its oldest pending delivery if that is due (a later
    one never overtakes it). One statement."""
    if not ids:
        return []
    D = WebhookDelivery
    heads = (select(D.subscription_id, func.min(D.event_id).label("event_id"))
             .where(D.subscription_id.in_(ids), D.status == PENDING)
             .group_by(D.subscription_id).subquery())
    rows = session.execute(
        select(D.id, D.kind, D.body, D.next_attempt_at, Subscription.id, Subscription.url,
               Subscription.secret)
        .join(heads, and_(heads.c.subscription_id == D.subscription_id,
                          heads.c.event_id == D.event_id))
        .join(Subscription, Subscription.id == D.subscription_id)
        .order_by(D.subscription_id))
    return [Due(row[0], row[1], row[2], row[5], row[6], row[4]) for row in rows
            if _aware(row[3]) <= now]


def record_attempts(session: Session, results: list[tuple[Due, Outcome, datetime]],
                    policy: RetryPolicy) -> dict[int, str]:
    """Log POSTs and move their deliveries on; return each delivery's new status."""
    if not results:
        return {}
    found = {row.id: row for row in session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id.in_(
            [due.delivery_id for due, _, _ in results])))}
    statuses: dict[int, str] = {}
    for due, outcome, at in results:
        delivery = found.get(due.delivery_id)
        if delivery is None:
            raise NotFound(f"no webhook delivery {due.delivery_id}")
        delivery.attempts += 1
        delivery.last_status = outcome.status_code
        delivery.last_error = outcome.error
        if outcome.ok:
            delivery.status, delivery.delivered_at = DELIVERED, at
        else:
            deadline = _aware(delivery.retry_from) + timedelta(seconds=policy.window)
            if at >= deadline:
                delivery.status = DEAD
            else:
                # The last try falls on the window's end: retried for the whole window.
                delivery.next_attempt_at = min(
                    at + timedelta(seconds=policy.delay(delivery.attempts)), deadline)
        statuses[delivery.id] = delivery.status
    session.execute(insert(WebhookAttempt), [
        {"delivery_id": due.delivery_id, "at": at, "status_code": outcome.status_code,
         "latency_ms": outcome.latency_ms, "error": outcome.error}
        for due, outcome, at in results])
    session.flush()
    return statuses


def replay(session: Session, actor: Actor, delivery_ids: list[int] | None = None,
           subscription_id: int | None = None) -> int:
    """Send dead letters again (the named ones, or all of a subscription's); a new retry
    window starts. Returns how many were replayed."""
    actor.require_role("admin")
    if not delivery_ids and subscription_id is None:
        raise ValidationError("deliveries", "required",
                              "name the deliveries to replay, or a subscription")
    condition = [WebhookDelivery.status == DEAD]
    if delivery_ids:
        found = set(session.scalars(select(WebhookDelivery.id)
                                    .where(WebhookDelivery.id.in_(delivery_ids))))
        missing = sorted(set(delivery_ids) - found)
        if missing:
            raise NotFound(f"no webhook delivery {', '.join(map(str, missing))}")
        condition.append(WebhookDelivery.id.in_(delivery_ids))
    if subscription_id is not None:
        condition.append(WebhookDelivery.subscription_id == subscription_id)
    now = datetime.now(UTC)
    result = session.execute(update(WebhookDelivery).where(and_(*condition))
                             .values(status=PENDING, retry_from=now, next_attempt_at=now)
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0))


def deliveries_of(session: Session, subscription_id: int, status: str | None = None,
                  limit: int = 50) -> list[WebhookDelivery]:
    """A subscription's newest deliveries."""
    query = (select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
             .order_by(WebhookDelivery.event_id.desc()).limit(limit))
    if status is not None:
        if status not in (PENDING, DELIVERED, DEAD):
            raise ValidationError("status", "enum",
                                  f"must be one of: {PENDING}, {DELIVERED}, {DEAD}")
        query = query.where(WebhookDelivery.status == status)
    return list(session.scalars(query))


def attempts_of(session: Session, delivery_ids: list[int]) -> dict[int, list[WebhookAttempt]]:
    """The attempts of some deliveries, oldest first."""
    out: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    for row in session.scalars(select(WebhookAttempt)
                               .where(WebhookAttempt.delivery_id.in_(delivery_ids))
                               .order_by(WebhookAttempt.id)):
        out[row.delivery_id].append(row)
    return out


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` deleted."""

    deliveries: int
    attempts: int
    events: int


def prune(session: Session, actor: Actor, before: datetime) -> Pruned:
    """Delete deliveries delivered before ``before`` with their attempts, and the events no
    delivery refers to any more that every active subscription has fanned out. Pending
    deliveries and dead letters stay (they are still owed, or evidence)."""
    actor.require_role("admin")
    old = select(WebhookDelivery.id).where(WebhookDelivery.status == DELIVERED,
                                           WebhookDelivery.delivered_at < before)
    ids = list(session.scalars(old))
    attempts = deliveries = 0
    for start in range(0, len(ids), 1000):  # bounded IN lists
        chunk = ids[start:start + 1000]
        attempts += _count(session.execute(delete(WebhookAttempt)
                                           .where(WebhookAttempt.delivery_id.in_(chunk))))
        deliveries += _count(session.execute(delete(WebhookDelivery)
                                             .where(WebhookDelivery.id.in_(chunk))))
    fanned = session.scalar(select(func.min(Subscription.last_event_id))
                            .where(Subscription.removed_at.is_(None)))
    referenced = exists().where(WebhookDelivery.event_id == WebhookEvent.id)
    condition = [WebhookEvent.created_at < before, ~referenced]
    if fanned is not None:
        condition.append(WebhookEvent.id <= fanned)
    events = _count(session.execute(delete(WebhookEvent).where(*condition)
                                    .execution_options(synchronize_session=False)))
    session.flush()
    return Pruned(deliveries=deliveries, attempts=attempts, events=events)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
