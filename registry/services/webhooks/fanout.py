"""Fan-out: the outbox's new events become one delivery per matching subscription.

Each delivery's body is written once, for its subscription: a ``release.published`` names
what the release changed in the subscription's lists and scope (and is not sent when that
is nothing), so the receiver knows what to fetch through GraphQL or ``registry sync pull``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from registry.models import (
    CodeList,
    FeedRecord,
    Operation,
    Release,
    WebhookDelivery,
    WebhookEvent,
)
from registry.models import WebhookSubscription as Subscription
from registry.services.proposer_scope import anchors
from registry.services.webhooks.outbox import CHANGESET_STATUS, RELEASE_PUBLISHED
from registry.sync.protocol import parse_scope
from registry.sync.scope import compute_view

# A receiver is told at most this many codes per list; it fetches the rest itself.
MAX_CODES = 1000
BATCH = 500


@dataclass
class FanOutCache:
    """What several subscriptions' bodies share within one pass: a release's changed codes
    and scoped views."""

    changes: dict[int, dict[str, set[str]]] = field(default_factory=dict)
    scoped: dict[tuple[str, str, int], set[str]] = field(default_factory=dict)
    change_set_codes: dict[tuple[int, str], set[str]] = field(default_factory=dict)


def release_changes(session: Session, release: int, cache: FanOutCache) -> dict[str, set[str]]:
    """Codes the release recorded, by list (a list's own definition counts as its key)."""
    if release not in cache.changes:
        changed: dict[str, set[str]] = defaultdict(set)
        for text in session.scalars(select(FeedRecord.record)
                                    .where(FeedRecord.release_id == release)):
            record = json.loads(text)
            kind = record.get("t")
            if kind == "version":
                changed[record["list"]].add(record["code"])
            elif kind == "link":
                changed[record["list"]].update((record["from"], record["to"]))
            elif kind == "list":
                changed.setdefault(record["key"], set())
        cache.changes[release] = dict(changed)
    return cache.changes[release]


def _scoped_codes(session: Session, list_key: str, code: str, release: int,
                  cache: FanOutCache) -> set[str]:
    key = (list_key, code, release)
    if key not in cache.scoped:
        list_id = session.scalar(select(CodeList.id).where(CodeList.key == list_key))
        codes: set[str] = set()
        if list_id is not None:
            view = compute_view(session, list_id, list_key, code, release)
            codes = {row_code for row_code, _ in view.key_ids}
        cache.scoped[key] = codes
    return cache.scoped[key]


def _release_data(session: Session, sub: Subscription, event: WebhookEvent,
                  cache: FanOutCache) -> dict[str, Any] | None:
    release = int(event.payload["release"])
    changes = release_changes(session, release, cache)
    scope = parse_scope(sub.scope)
    lists: dict[str, Any] = {}
    for list_key in sorted(changes):
        if sub.lists is not None and list_key not in sub.lists:
            continue
        codes = changes[list_key]
        if scope is not None and scope.list_key == list_key:
            # In the scope now, or before the release (a unit that left it).
            inside = _scoped_codes(session, list_key, scope.code, release, cache)
            if release > 1:
                inside = inside | _scoped_codes(session, list_key, scope.code, release - 1,
                                                cache)
            codes = codes & inside
            if not codes:
                continue
        ordered = sorted(codes)
        lists[list_key] = {"changed": len(ordered), "codes": ordered[:MAX_CODES],
                           "truncated": len(ordered) > MAX_CODES}
    if not lists and (sub.lists is not None or scope is not None):
        return None
    return {**event.payload, "lists": lists, "scope": sub.scope}


def _touches_scope(session: Session, change_set_id: int, list_key: str, code: str,
                   cache: FanOutCache) -> bool:
    """Whether an operation of the change set acts on or under a code of the scope (as the
    list stands now): a province hears of the change sets about its units."""
    key = (change_set_id, list_key)
    if key not in cache.change_set_codes:
        codes: set[str] = set()
        for payload in session.scalars(select(Operation.payload).where(
                Operation.change_set_id == change_set_id, Operation.list_key == list_key)):
            codes.update(anchors(payload))
        cache.change_set_codes[key] = codes
    newest = session.scalar(select(func.max(Release.id))) or 0
    return bool(cache.change_set_codes[key]
                & _scoped_codes(session, list_key, code, newest, cache))


def body_of(session: Session, sub: Subscription, event: WebhookEvent,
            cache: FanOutCache) -> str | None:
    """The JSON body of ``event`` for ``sub``; ``None`` when it does not concern it."""
    if event.kind not in sub.events:
        return None
    data: dict[str, Any] | None
    if event.kind == RELEASE_PUBLISHED:
        data = _release_data(session, sub, event, cache)
    elif event.kind == CHANGESET_STATUS:
        touched = event.payload.get("lists") or []
        data = (event.payload if sub.lists is None or set(touched) & set(sub.lists)
                else None)
        scope = parse_scope(sub.scope)
        if data is not None and scope is not None and not _touches_scope(
                session, int(event.payload["change_set"]), scope.list_key, scope.code, cache):
            data = None
    else:
        data = None
    if data is None:
        return None
    return json.dumps({"type": event.kind, "event": event.id, "subscription": sub.id,
                       "timestamp": event.created_at.isoformat(), "data": data},
                      ensure_ascii=False, separators=(",", ":"))


def fan_out(session: Session, subscriptions: list[Subscription],
            cache: FanOutCache | None = None) -> int:
    """Turn the subscriptions' next events into deliveries; return how many were written.

    The caller holds the subscriptions' leases, so no other worker writes them too. The
    events are read once for all of them and the deliveries inserted in one statement.
    """
    if not subscriptions:
        return 0
    cache = cache or FanOutCache()
    low = min(sub.last_event_id for sub in subscriptions)
    events = list(session.scalars(
        select(WebhookEvent).where(WebhookEvent.id > low)
        .order_by(WebhookEvent.id).limit(BATCH)))
    if not events:
        return 0
    now = datetime.now(UTC)
    rows = []
    for sub in subscriptions:
        for event in events:
            if event.id <= sub.last_event_id:
                continue
            body = body_of(session, sub, event, cache)
            if body is not None:
                rows.append({"subscription_id": sub.id, "event_id": event.id,
                             "kind": event.kind, "body": body, "status": "pending",
                             "attempts": 0, "created_at": now, "retry_from": now,
                             "next_attempt_at": now})
        sub.last_event_id = max(sub.last_event_id, events[-1].id)
    if rows:
        session.execute(insert(WebhookDelivery), rows)
    session.flush()
    return len(rows)
