"""Applying change records: one local transaction per release (DESIGN §9.6).

:class:`OpenRelease` is the transaction of one release, open while its records arrive
(however many pages they span) and committed with the cursor at the release marker.
:class:`ChainApplier` feeds it records that were already checked (:mod:`.chain`), skips
those at or before the cursor, and commits at each release marker; change pages and a
broker's messages both go through it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from registry.errors import Conflict, FeedIntegrityError
from registry.sync.local_store import Batch, LocalState, link_row, list_row, state_after
from registry.sync.results import PullResult, ReleaseChanges

if TYPE_CHECKING:
    from registry.sync.client import SyncClient

log = logging.getLogger("registry.sync")



@dataclass
class Applied:
    """What one committed transaction applied: a release, or several (a delta's span)."""

    records: int
    changes: ReleaseChanges
    state: LocalState  # the replica's state as committed
    earlier: list[ReleaseChanges] = field(default_factory=list)  # the span's, in order

    @property
    def every_release(self) -> list[ReleaseChanges]:
        """The changes of every release applied, in order."""
        return [*self.earlier, self.changes]


# Whether to write what is gathered is asked every this many records: the thresholds
# (local_store.BATCH, WRITE_AHEAD_FROM, WRITE_AHEAD_MOST) are multiples of it, and asking
# at every record was a few milliseconds of a 14,000-record release's client CPU.
FLUSH_LOOK = 25

# The record fields of a version, in the order of local_store.version_params.
BULK_FIELDS = ("list", "code", "valid_from", "valid_to", "status", "name", "short_name",
                "name_en", "type", "level", "parent", "attributes", "release", "change_set")


class OpenRelease:
    """The local transaction of one release, open while its pages arrive."""

    def __init__(self, client: SyncClient, committed: LocalState) -> None:
        self.client = client
        self.store = client.store
        self.sub = client._subscription(committed)
        self.every_list = self.sub.lists is None
        self.locked = self.store.begin()
        self.conn = self.locked.conn
        if (self.locked.state.epoch, self.locked.state.seq) != (committed.epoch, committed.seq):
            self.locked.rollback()
            raise Conflict(f"another client moved this replica from seq {committed.seq} to "
                           f"{self.locked.state.seq} meanwhile; run one client per database")
        self.batch = Batch()
        self.records = 0
        self.removals: list[dict[str, Any]] = []  # kept with the release, for replays
        self.release: int | None = None
        self.changes = ReleaseChanges(release=0, seq=0) if client.on_release else None
        self.ended: list[ReleaseChanges] = []  # releases of a span ended before the last

    def add(self, record: dict[str, Any]) -> None:
        """Stage one record (records of lists outside the subscription are skipped)."""
        kind = record.get("t")
        self.release = record.get("release", self.release)
        if kind == "release":
            return
        key = record.get("key") if kind == "list" else record.get("list")
        if key is not None and not self.every_list and not self.sub.includes(str(key)):
            return
        if kind == "version":
            self.batch.version(record)
        elif kind == "link":
            self.batch.link(link_row(record))
        elif kind == "list":
            self.batch.code_list(list_row(record))
        elif kind == "remove":
            self.removals.append(record)
            if record.get("kind", "version") == "link":
                self.batch.remove_link(record["list"], record["from"], record["to"],
                                       record["effective_date"])
            else:
                self.batch.remove_version(record["list"], record["code"], record["valid_from"])
        else:
            raise FeedIntegrityError(f"seq {record.get('seq')}: unknown record type {kind!r} "
                                     "in a supported format; refusing it")
        self.records += 1
        if self.changes is not None:
            self.changes.add(record)
        if self.records % FLUSH_LOOK == 0 and self.store.wants_flush(self.conn, self.batch):
            # Written on; on PostgreSQL left running on the server while the next records
            # are decoded and checked (LocalStore.flush).
            self.store.flush(self.conn, self.batch, settle=False)

    def flush(self) -> None:
        """Write everything staged, inside the open transaction (readable from it)."""
        self.store.flush(self.conn, self.batch)

    def end_release(self, marker: dict[str, Any]) -> None:
        """Record a release of a span that goes on after it (its marker says where it ends
        in the feed); the transaction stays open for the next one."""
        number, seq, digest = int(marker["release"]), int(marker["seq"]), str(marker["hash"])
        self.store.record_release(self.conn, number, seq, digest, marker, self.removals)
        self.removals = []
        changes = self.changes or ReleaseChanges(release=number, seq=seq)
        changes.release, changes.seq = number, seq
        changes.mark(marker)
        self.ended.append(changes)
        self.changes = ReleaseChanges(release=0, seq=0) if self.client.on_release else None

    def commit(self, marker: dict[str, Any], seq: int, digest: str,
               release: int | None = None) -> Applied:
        """Write the rest, the release row and the cursor, and commit them together."""
        number = int(release if release is not None else marker["release"])
        self.flush()
        self.store.record_release(self.conn, number, seq, digest, marker, self.removals)
        now = datetime.now(UTC)
        extra: dict[str, Any] = {}
        if self.client._notified is not None:
            extra["notified_release"] = self.client._notified
        seen = self.client._pending_note or {}  # the head this pull saw, written with it
        values = dict(seq=seq, hash=digest, release_id=number, applied_at=now,
                      last_error=None, last_error_at=None, last_contact=now,
                      head_seq=max(self.locked.state.head_seq or 0, seq,
                                   seen.get("head_seq", 0)),
                      head_release=max(self.locked.state.head_release or 0, number,
                                       seen.get("head_release", 0)),
                      **extra)
        self.store.set_state(self.conn, **values)
        self.locked.commit()
        self.client._notified = self.client._pending_note = None
        changes = self.changes or ReleaseChanges(release=number, seq=seq)
        changes.release, changes.seq = number, seq
        changes.mark(marker)
        log.info("applied release %d (seq %d, %d records)", number, seq, self.records)
        return Applied(self.records, changes, state_after(self.locked.state, values),
                       self.ended)

    def rollback(self) -> None:
        """Forget everything staged (idempotent)."""
        self.locked.rollback()


class ChainApplier:
    """Applies checked change records in seq order, committing at each release marker.

    Records at or before the cursor (``seq``) are skipped: a replayed page or message
    changes nothing. ``confirm(seq, hash)``, when given, is called before a release is
    committed and may refuse it by raising.
    """

    def __init__(self, client: SyncClient, committed: LocalState, result: PullResult,
                 confirm: Callable[[int, str], None] | None = None) -> None:
        self.client = client
        self.committed = committed
        self.result = result
        self.confirm = confirm
        self.seq, self.hash = committed.seq, committed.hash or ""
        self.open: OpenRelease | None = None

    def add(self, record: dict[str, Any], digest: str, where: str) -> bool:
        """Stage one record whose chain hash is ``digest``; return whether it ended (and
        committed) a release."""
        if record["seq"] <= self.seq:
            return False  # applied before: verified by the caller, skipped here
        if record.get("format", 1) != 1:  # every client reads format 1
            self.client._check_format(record, where)
        if self.open is None:
            self.open = OpenRelease(self.client, self.committed)
        self.open.add(record)
        self.seq, self.hash = record["seq"], digest
        if record.get("t") != "release":
            return False
        if self.confirm is not None:
            self.confirm(self.seq, self.hash)
        applied = self.open.commit(record, self.seq, self.hash)
        self.open = None
        self.committed = self.client._committed = applied.state
        self.result.releases += 1
        self.result.records += applied.records
        self.client._notify(applied.changes)
        self.client._report(self.committed, quiet=True)
        return True

    @property
    def inside_release(self) -> bool:
        """Whether records of a release are staged and its marker has not come yet."""
        return self.open is not None

    def drop(self) -> None:
        """Forget the records staged since the last commit; back to the committed cursor."""
        if self.open is not None:
            self.open.rollback()
            self.open = None
        self.seq, self.hash = self.committed.seq, self.committed.hash or ""
