"""The relay: the centre's feed, record by record, into the broker's stream.

The feed is the outbox (DESIGN §11). The relay reads the records after the last one the
stream holds, in seq order, and publishes each one's canonical JSON (the text its chain
hash covers) with the id ``<epoch>:<seq>``. So:

- a restart resumes after the last record the stream holds: nothing is lost or skipped;
- a record published twice (the relay died between the broker storing it and the relay
  learning so) is stored once, by the broker's de-duplication on the id;
- the stream holds the records in seq order: a pipelined batch that loses one message
  loses every message after it too (see :mod:`.nats`), and the relay starts again from
  the stream's last record.

It wakes on the ``NOTIFY`` a PostgreSQL publisher sends (:class:`FeedListener`) and reads
the head every :attr:`Relay.poll` seconds otherwise (SQLite, or while the listening
connection is down).

**A changed epoch** (the centre's feed was rebuilt or restored) is refused: the relay
stops with :class:`StreamMismatch` and says to publish into a new stream, or to delete
this one. Appending the new epoch's records to a stream whose seqs already ran further
would put two histories in one ordered stream; followers re-snapshot over HTTP anyway.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import Engine, select

from registry.broker.base import (
    Broker,
    BrokerError,
    BrokerUnavailable,
    FeedMessage,
    Stored,
    StreamMismatch,
)
from registry.db import session_factory
from registry.models import FeedRecord
from registry.services.feed import Head, read_head
from registry.sync.listener import FeedListener

log = logging.getLogger("registry.broker")

PUBLISHED = Counter("registry_broker_published_total",
                    "Feed records the relay published to the broker, by outcome: stored, or "
                    "duplicate (the broker held the id already).", ["outcome"])
BATCH = 2000  # records read from the feed and published per round
SCAN = 1000  # messages looked at, from the end of the stream, to find where it stands


@dataclass
class RelayStats:
    """What the relay did since it started."""

    published: int = 0
    duplicates: int = 0
    releases: int = 0


class Relay:
    """Publishes the feed of the database behind ``engine`` to ``broker``."""

    def __init__(self, engine: Engine, broker: Broker, *, poll: float = 0.2,
                 batch: int = BATCH, listen: bool = True,
                 stop: threading.Event | None = None) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.broker = broker
        self.poll = poll
        self.batch = batch
        self.stop = stop or threading.Event()
        self.stats = RelayStats()
        self.position: int | None = None  # the last feed seq the stream holds
        self.epoch: str | None = None
        self._wake = threading.Event()
        self._listener = FeedListener.for_engine(engine) if listen else None
        self._release_first: int | None = None
        self._release_dups = 0

    # --- where the stream stands ---

    def _head(self) -> Head:
        with self.sessions() as session:
            return read_head(session)

    def _feed_rows(self, after: int, upto: int, limit: int
                   ) -> list[tuple[int, int, str, str]]:
        with self.sessions() as session:
            rows = session.execute(
                select(FeedRecord.seq, FeedRecord.release_id, FeedRecord.record,
                       FeedRecord.hash)
                .where(FeedRecord.seq > after, FeedRecord.seq <= upto)
                .order_by(FeedRecord.seq).limit(limit)).all()
        return [(int(s), int(r), str(t), str(h)) for s, r, t, h in rows]

    def _genuine(self, message: FeedMessage) -> bool:
        """Whether ``message`` is exactly the feed's record at its seq."""
        rows = self._feed_rows(message.seq - 1, message.seq, 1)
        if not rows:
            return False
        _seq, release, text, digest = rows[0]
        return (message.hash == digest and message.release == release
                and message.data == text.encode("utf-8"))

    def resume(self) -> int:
        """Find the last feed record the stream holds (0: none); refuse a stream of another
        epoch. Messages the feed does not hold (published by someone else) are skipped
        with a warning."""
        self.broker.ensure_stream()
        head = self._head()
        found = self.broker.last_messages(SCAN)
        position = 0
        for stream_seq, message in found:
            if message is None:
                log.warning("stream %s: message %d has no registry headers; skipped",
                            self.broker.stream, stream_seq)
                continue
            if message.epoch != head.epoch:
                raise StreamMismatch(
                    f"stream {self.broker.stream} at {self.broker.url} holds epoch "
                    f"{message.epoch} (up to seq {message.seq}), the centre's feed is epoch "
                    f"{head.epoch}: the feed was rebuilt or restored. Relay into a new "
                    "stream (--stream NAME) or delete this one (nats stream rm "
                    f"{self.broker.stream}); followers take a new snapshot over HTTP")
            if self._genuine(message):
                position = message.seq
                break
            log.warning("stream %s: message %d claims seq %d but is not the feed's record "
                        "there (another publisher on %s.>?); skipped", self.broker.stream,
                        stream_seq, message.seq, self.broker.prefix)
        else:
            if found:
                raise StreamMismatch(
                    f"stream {self.broker.stream} at {self.broker.url}: none of its last "
                    f"{len(found)} messages is a record of this feed; give another stream")
        self.position, self.epoch = position, head.epoch
        log.info("stream %s holds the feed up to seq %d; the centre's head is seq %d",
                 self.broker.stream, position, head.seq)
        return position

    # --- publishing ---

    def run_once(self) -> int:
        """Publish every record after the stream's position up to the head; return how
        many were published (duplicates included)."""
        if self.position is None:
            self.resume()
        assert self.position is not None
        head = self._head()
        if head.epoch != self.epoch:
            raise StreamMismatch(
                f"the centre's feed epoch changed from {self.epoch} to {head.epoch} while "
                f"relaying into stream {self.broker.stream}: relay into a new stream "
                "(--stream NAME) or delete this one; followers take a new snapshot over HTTP")
        sent = 0
        while self.position < head.seq and not self.stop.is_set():
            rows = self._feed_rows(self.position, head.seq, self.batch)
            if not rows:
                break
            if rows[0][0] != self.position + 1:
                raise BrokerError(f"the feed lacks seq {self.position + 1} (next is "
                                  f"{rows[0][0]}); run 'registry verify-feed' on the centre")
            messages = [FeedMessage.of_record(head.epoch, seq, release, digest, text)
                        for seq, release, text, digest in rows]
            started = time.monotonic()
            stored = self.broker.publish(messages)
            elapsed = time.monotonic() - started
            self._check_duplicates(stored)
            self._account(messages, stored, elapsed)
            self.position = messages[-1].seq
            sent += len(messages)
        return sent

    def _check_duplicates(self, stored: Sequence[Stored]) -> None:
        for item in stored:
            if not item.duplicate:
                continue
            held = self.broker.fetch(item.stream_seq)
            if held is None or held.data != item.message.data or held.hash != item.message.hash:
                raise StreamMismatch(
                    f"stream {self.broker.stream} holds another message under the id "
                    f"{item.message.msg_id} (stream seq {item.stream_seq}): someone else "
                    f"publishes on {self.broker.prefix}.>; allow only the relay to publish "
                    "there, and relay into a new stream")

    def _account(self, messages: Sequence[FeedMessage], stored: Sequence[Stored],
                 elapsed: float) -> None:
        """Count, and log one JSON line per release whose closing record was published
        (``publish_seconds``: the publish call that carried it, for the whole batch)."""
        duplicates = sum(1 for item in stored if item.duplicate)
        PUBLISHED.labels("stored").inc(len(stored) - duplicates)
        PUBLISHED.labels("duplicate").inc(duplicates)
        self.stats.published += len(stored) - duplicates
        self.stats.duplicates += duplicates
        self._release_dups += duplicates
        for message in messages:
            if self._release_first is None:
                self._release_first = message.seq
            if message.list_key is None and json.loads(message.data).get("t") == "release":
                log.info(json.dumps({
                    "event": "broker.published", "stream": self.broker.stream,
                    "epoch": message.epoch, "release": message.release,
                    "first_seq": self._release_first, "last_seq": message.seq,
                    "records": message.seq - self._release_first + 1,
                    "duplicates": self._release_dups,
                    "batch_records": len(messages),
                    "publish_seconds": round(elapsed, 4)}))
                self.stats.releases += 1
                self._release_first, self._release_dups = None, 0

    # --- running ---

    def wake(self) -> None:
        """Look at the head now (called by the listener; tests call it too)."""
        self._wake.set()

    def run(self) -> None:
        """Relay until :attr:`stop` is set. A broker that goes away is waited for (the
        connection comes back by itself) and the stream's position read again; a stream
        of another epoch, or another publisher's message under one of our ids, stops it."""
        if self._listener is not None:
            self._listener.start(self.wake)
        pause = 0.5
        try:
            while not self.stop.is_set():
                self._wake.clear()
                try:
                    self.run_once()
                    pause = 0.5
                except StreamMismatch:
                    raise
                except BrokerError as exc:
                    # BrokerUnavailable included: the position is read again from the stream.
                    level = logging.WARNING if isinstance(exc, BrokerUnavailable) else \
                        logging.ERROR
                    log.log(level, "%s; starting again from the stream's last record in "
                            "%.1f s", exc.message, pause)
                    self.position = None
                    if self.stop.wait(pause):
                        return
                    pause = min(pause * 2, 10.0)
                    continue
                notified = self._listener is not None and self._listener.connected.is_set()
                # With notifications, the head is still read now and then (a lost NOTIFY
                # costs at most that long); without, every ``poll`` seconds.
                self._wake.wait(5.0 if notified else self.poll)
        finally:
            if self._listener is not None:
                self._listener.stop()

    def shutdown(self) -> None:
        """Stop :meth:`run` from another thread."""
        self.stop.set()
        self._wake.set()
