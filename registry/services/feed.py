"""The feed: gapless sequence numbers and a hash chain (DESIGN §9.1–9.3).

``hash = sha256(previous hash ‖ canonical JSON of the record)``. Sequence numbers are
assigned while holding the feed-head row lock, so they follow commit order and have no gaps
even with concurrent publishers.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine, Table, select, text, update
from sqlalchemy.orm import Session

from registry.db import bulk_insert
from registry.errors import FeedIntegrityError
from registry.models import FeedHead, FeedRecord
from registry.models.base import table_of

RECORD_FORMAT = 1
GENESIS_HASH = "0" * 64
FEED_RECORDS = table_of(FeedRecord)
# PostgreSQL's notification channel on which every move of the head is announced.
CHANNEL = "registry_feed"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(record: dict[str, Any]) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, UTF-8 text as is."""
    # One encoder for all records: json.dumps with options builds a new one per call.
    return _CANONICAL.encode(record)


def chain_hash(previous: str, canonical: str | bytes) -> str:
    """Hash of one record given the hash before it (its canonical text, or that text's
    UTF-8 bytes as a page carried them)."""
    data = canonical if isinstance(canonical, bytes) else canonical.encode("utf-8")
    return hashlib.sha256(previous.encode("ascii") + data).hexdigest()


@dataclass(frozen=True)
class Head:
    """Where the feed ends."""

    epoch: str
    seq: int
    release: int
    hash: str


def lock_head(session: Session) -> Head:
    """Take the publishers' lock and read the head; held until the transaction ends.

    An UPDATE rather than ``SELECT … FOR UPDATE`` because it also takes SQLite's write lock
    at once, so two SQLite publishers queue instead of failing half-way.
    """
    session.execute(update(FeedHead).where(FeedHead.id == 1).values(seq=FeedHead.seq))
    return read_head(session)


def new_epoch(session: Session) -> tuple[Head, Head]:
    """Give the feed a new epoch; return the heads before and after.

    For a centre restored from a backup: replicas may hold records the restored feed never
    had, under sequence numbers it will reuse. A new epoch makes every replica take a fresh
    snapshot instead of merging two histories (DESIGN §9.7). The chain must verify first,
    so a damaged restore is not blessed with a new name.
    """
    before = lock_head(session)
    seq, digest = verify_chain(iter_records(session))
    if (seq, digest) != (before.seq, before.hash):
        raise FeedIntegrityError(f"the chain ends at seq {seq}, the head says {before.seq}; "
                                 "repair the restore before giving it a new epoch")
    epoch = uuid.uuid4().hex
    session.execute(update(FeedHead).where(FeedHead.id == 1).values(epoch=epoch))
    announce(session, before.seq)
    return before, Head(epoch=epoch, seq=before.seq, release=before.release, hash=before.hash)


def announce(session: Session, seq: int) -> None:
    """Tell the sync servers listening, when this transaction commits, that the head moved
    to ``seq`` (PostgreSQL only; nothing is sent if the transaction rolls back)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :seq)"),
                        {"channel": CHANNEL, "seq": str(seq)})


def read_head(session: Session) -> Head:
    """The head as this transaction sees it."""
    row = session.execute(select(FeedHead).where(FeedHead.id == 1)).scalar_one()
    return Head(epoch=row.epoch, seq=row.seq, release=row.release_id, hash=row.hash)


_HEAD_COLUMNS = select(FeedHead.epoch, FeedHead.seq, FeedHead.release_id,
                       FeedHead.hash).where(FeedHead.id == 1)


def read_head_committed(engine: Engine) -> Head:
    """The head as last committed, in one statement outside any transaction: the sync
    server asks for it on every request, and a session's BEGIN and ROLLBACK tripled the
    round trips (about 2 ms against 0.7 ms here). PostgreSQL only; SQLite reads it in a
    session (:func:`read_head`)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        epoch, seq, release, digest = conn.execute(_HEAD_COLUMNS).one()
    return Head(epoch=epoch, seq=seq, release=release, hash=digest)


class FeedWriter:
    """Appends records of one release; call :meth:`close` to move the head."""

    def __init__(self, session: Session, head: Head, release: int) -> None:
        self.session = session
        self.release = release
        self.seq = head.seq
        self.hash = head.hash
        self.first_seq = head.seq + 1
        self._rows: list[dict[str, Any]] = []
        # Where full batches go; a publisher may point it at a write-behind queue.
        self.sink: Callable[[Table, list[dict[str, Any]]], None] = partial(bulk_insert, session)

    def append(self, record: dict[str, Any]) -> None:
        """Add one record; ``seq``, ``release`` and ``format`` are filled in here."""
        self.seq += 1
        full = {**record, "seq": self.seq, "release": self.release, "format": RECORD_FORMAT}
        text = canonical_json(full)
        self.hash = chain_hash(self.hash, text)
        self._rows.append(
            {"seq": self.seq, "release_id": self.release, "record": text, "hash": self.hash}
        )
        if len(self._rows) >= 2000:
            self.flush()

    def flush(self) -> None:
        """Write buffered records."""
        if self._rows:
            self.sink(FEED_RECORDS, self._rows)
            self._rows = []

    def close(self) -> None:
        """Write what is left and move the head to the last record (and say so to the
        sync servers listening, when this transaction commits)."""
        self.flush()
        self.session.execute(
            update(FeedHead)
            .where(FeedHead.id == 1)
            .values(seq=self.seq, hash=self.hash, release_id=self.release)
        )
        announce(self.session, self.seq)


def iter_records(session: Session, after: int = 0,
                 limit: int | None = None) -> Iterator[FeedRecord]:
    """Records with ``seq > after`` in order, fetched in batches."""
    batch = 5000
    cursor = after
    fetched = 0
    while limit is None or fetched < limit:
        size = batch if limit is None else min(batch, limit - fetched)
        rows = session.execute(
            select(FeedRecord).where(FeedRecord.seq > cursor).order_by(FeedRecord.seq).limit(size)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        fetched += len(rows)
        cursor = rows[-1].seq


def verify_chain(records: Iterable[FeedRecord], previous_hash: str = GENESIS_HASH,
                 previous_seq: int = 0) -> tuple[int, str]:
    """Check sequence and hashes; return the last (seq, hash). Raises on the first fault."""
    for row in records:
        if row.seq != previous_seq + 1:
            raise FeedIntegrityError(f"seq {previous_seq + 1} is missing (next is {row.seq})")
        expected = chain_hash(previous_hash, row.record)
        if expected != row.hash:
            raise FeedIntegrityError(f"seq {row.seq}: hash does not verify")
        if json.loads(row.record).get("seq") != row.seq:
            raise FeedIntegrityError(f"seq {row.seq}: the record names another seq")
        previous_seq, previous_hash = row.seq, row.hash
    return previous_seq, previous_hash


def verify_feed(session: Session) -> Head:
    """Verify the whole chain from the first record to the head; return the head."""
    head = read_head(session)
    seq, digest = verify_chain(iter_records(session))
    if (seq, digest) != (head.seq, head.hash):
        raise FeedIntegrityError(f"the chain ends at seq {seq}, the head says {head.seq}")
    return head
