"""The sync ledger: where every replica stands (DESIGN §9.10).

Replicas report their position (epoch, seq, release, subscription, last error) with a
``sync`` token; the centre keeps one row per replica name and shows which local system is
at which release, how far behind the head it is, and when it was last heard from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.errors import PermissionDenied, ValidationError
from registry.models import SyncConsumer
from registry.services.actors import ROLES, Actor
from registry.services.feed import Head, read_head
from registry.sync.params import SCOPE_CHARS

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:/ -]{0,127}$"
_NAME = re.compile(NAME_PATTERN)
# A list key is at most 64 characters; a longer name in a report is not a list.
LIST_NAME_CHARS = 64
_BIGGEST = 2**31 - 1  # seq and release are INTEGER columns
# Who may see the ledger: a person's token. Anonymous callers may not (the ledger names
# every local system and its errors), nor sync tokens (they read the feed and report).
LEDGER_ROLES = ROLES


@dataclass(frozen=True)
class PositionReport:
    """What a replica says about itself."""

    name: str
    epoch: str | None
    seq: int
    release: int
    lists: list[str] | None = None
    scope: str | None = None
    last_error: str | None = None
    client_version: str | None = None


@dataclass(frozen=True)
class ConsumerView:
    """One replica as the centre sees it, with its lag behind the current head."""

    name: str
    epoch: str | None
    seq: int
    release: int
    lists: list[str] | None
    scope: str | None
    last_contact: datetime
    last_error: str | None
    client_version: str | None
    current_epoch: bool
    lag_releases: int | None
    lag_records: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "epoch": self.epoch, "seq": self.seq,
                "release": self.release, "lists": self.lists, "scope": self.scope,
                "last_contact": self.last_contact.isoformat(), "last_error": self.last_error,
                "client_version": self.client_version, "current_epoch": self.current_epoch,
                "lag_releases": self.lag_releases, "lag_records": self.lag_records}


def parse_report(raw: Any, max_lists: int) -> PositionReport:
    """Check the JSON body of a report; errors name the field and the rule.

    ``lists`` holds at most ``max_lists`` names (the ``sync_lists`` limit), each at most
    :data:`LIST_NAME_CHARS` characters: a ledger row is not a place to store megabytes.
    """
    if not isinstance(raw, dict):
        raise ValidationError("body", "type", "must be a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError("name", "pattern", "must be 1–128 letters, digits or . _ @ : / - "
                              "and spaces, starting with a letter or digit")
    numbers = {}
    for field in ("seq", "release"):
        value = raw.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(field, "type", "must be a whole number ≥ 0")
        if value > _BIGGEST:
            raise ValidationError(field, "maximum", f"must be ≤ {_BIGGEST}")
        numbers[field] = value
    lists = raw.get("lists")
    if lists is not None and (not isinstance(lists, list)
                              or not all(isinstance(k, str) for k in lists)):
        raise ValidationError("lists", "type", "must be a list of list keys or null")
    if lists is not None and len(lists) > max_lists:
        raise ValidationError("lists", "maxItems", f"names at most {max_lists} lists")
    if lists is not None and any(len(k) > LIST_NAME_CHARS or not k.isprintable()
                                 for k in lists):
        raise ValidationError("lists", "maxLength", f"each name is at most {LIST_NAME_CHARS} "
                              "printable characters")
    texts: dict[str, str | None] = {}
    for field, limit in (("epoch", 64), ("scope", SCOPE_CHARS), ("last_error", 4000),
                         ("client_version", 64)):
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            raise ValidationError(field, "type", "must be text or null")
        # Cut, not refused: a long error message from a replica is still worth keeping. The
        # text goes into the database, which takes neither NUL nor lone surrogates.
        texts[field] = _storable(value[:limit]) if isinstance(value, str) else None
    return PositionReport(name=name, seq=numbers["seq"], release=numbers["release"],
                          lists=lists, **texts)


def _storable(text: str) -> str:
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


def report_position(session: Session, actor: Actor, report: PositionReport) -> ConsumerView:
    """Record a replica's position; ``sync`` and ``admin`` tokens may report.

    A row belongs to the token that created it: another sync token naming the replica is
    refused, so one replica's token cannot rewrite where another stands. An ``admin`` token
    may report for any replica (without taking the row over); a row from before owners
    were kept is claimed by the next token that reports for it.
    """
    actor.require_role("sync")
    # Write first: an UPDATE takes SQLite's write lock at once (as the publishers' lock
    # does), so two first reports under one name queue instead of one failing on a lock
    # upgrade; on PostgreSQL it locks the row when there is one.
    session.execute(update(SyncConsumer).where(SyncConsumer.name == report.name)
                    .values(name=SyncConsumer.name))
    row = session.scalars(select(SyncConsumer).where(SyncConsumer.name == report.name)
                          ).one_or_none()
    now = datetime.now(UTC)
    if row is None:
        row = SyncConsumer(name=report.name, owner=actor.name)
        session.add(row)
    elif row.owner is None:
        row.owner = actor.name
    elif row.owner != actor.name and actor.role != "admin":
        raise PermissionDenied(f"the replica '{report.name}' reports with another token; "
                               "use that token or another replica name", "name", "owner")
    row.epoch, row.seq, row.release_id = report.epoch, report.seq, report.release
    row.lists, row.scope, row.last_error = report.lists, report.scope, report.last_error
    row.client_version, row.last_contact = report.client_version, now
    session.flush()
    return _view(row, read_head(session))


def _view(row: SyncConsumer, head: Head) -> ConsumerView:
    current = row.epoch == head.epoch
    return ConsumerView(
        name=row.name, epoch=row.epoch, seq=row.seq, release=row.release_id,
        lists=list(row.lists) if row.lists is not None else None, scope=row.scope,
        last_contact=row.last_contact, last_error=row.last_error,
        client_version=row.client_version, current_epoch=current,
        lag_releases=max(head.release - row.release_id, 0) if current else None,
        lag_records=max(head.seq - row.seq, 0) if current else None,
    )


def list_consumers(session: Session) -> list[ConsumerView]:
    """Every replica that ever reported, most behind first, then by name.

    ``lag_releases``/``lag_records`` are ``None`` for a replica on another epoch: it must
    take a new snapshot, and its numbers do not compare with the current feed.
    """
    head = read_head(session)
    views = [_view(row, head) for row in session.scalars(select(SyncConsumer))]
    return sorted(views, key=lambda v: (v.lag_releases is not None,
                                        -(v.lag_releases or 0), v.name))


def may_read(actor: Actor | None) -> bool:
    """The one rule for seeing the ledger, on every interface (API, web UI)."""
    return actor is not None and actor.role in LEDGER_ROLES


def consumers_for(session: Session, actor: Actor | None) -> list[ConsumerView]:
    """:func:`list_consumers` for ``actor``, refused unless :func:`may_read` allows it."""
    if not may_read(actor):
        raise PermissionDenied("the sync ledger is shown to signed-in people only (a reader, "
                               "steward, approver or admin token)")
    return list_consumers(session)
