"""Following with a broker's messages instead of long-polling the centre.

A replica that follows the whole chain (every list, no scope) receives
every feed record from the broker's stream (:mod:`registry.broker`). Each message is
checked with the same code that checks a change page's records (:func:`.chain.chain_records`):
it must be the next seq after the replica's cursor, its record must be the exact canonical
JSON its chain hash covers, and the chain from the replica's hash through it must arrive
at the hash its message names. The records are applied by the same
:class:`~.apply.ChainApplier` as a page's, one local transaction per release; before a
release commits, its last hash is confirmed with the centre (one small request: ``head``,
or the ``hashes`` of its page when the head has moved on), because anyone who may publish
on the broker could extend the public chain with records of their own.

Whatever does not fit is not applied: a gap, a duplicate that is not a replay, a record
that does not chain, a release the centre does not confirm, a broker that went away. The
follower then pulls over HTTP, as a follower without a broker would (and logs why), and
goes on with the messages that follow. A message at or before the cursor is a replay (the
broker delivers at least once, and the consumer starts with the stream's last message)
and is skipped.

A replica of **some lists** or with a **scope** applies deltas, not the chain: it takes
only the release markers (subject ``<prefix>._release``) as wake-ups and pulls the deltas
over HTTP.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry.broker.base import Broker, BrokerError, BrokerSubscription, FeedMessage
from registry.errors import FeedIntegrityError, RegistryError
from registry.services.feed import canonical_json
from registry.sync.apply import ChainApplier
from registry.sync.chain import chain_records
from registry.sync.errors import EpochChanged, SyncError
from registry.sync.protocol import PREFIX, page_of
from registry.sync.results import PullResult

if TYPE_CHECKING:
    from registry.sync.client import SyncClient

log = logging.getLogger("registry.sync")

IDLE_PULL = 60.0  # seconds without a message before an HTTP pull checks nothing was missed
OPEN_RELEASE = 5.0  # seconds a release may stay incomplete before it is pulled over HTTP
TICK = 0.5  # how often the loop looks at the stop flag and the connection


@dataclass
class BrokerFollowStats:
    """What a broker-driven follower did."""

    releases: int = 0  # releases applied from the broker's messages
    records: int = 0
    replays: int = 0  # messages at or before the cursor, skipped
    fallbacks: int = 0  # HTTP pulls because a message did not fit or the broker was away
    refused: int = 0  # messages refused by the checks
    wakeups: int = 0  # deltas: release markers that started an HTTP pull


class BrokerFollower:
    """Applies releases from a broker's messages until the client's ``stop`` is set."""

    def __init__(self, client: SyncClient, broker: Broker, *, idle_pull: float = IDLE_PULL,
                 open_release: float = OPEN_RELEASE) -> None:
        self.client = client
        self.broker = broker
        self.idle_pull = idle_pull
        self.open_release = open_release
        self.stats = BrokerFollowStats()
        self._result = PullResult()
        self._applier: ChainApplier | None = None
        self._away = False

    # --- the loop ---

    def run(self) -> BrokerFollowStats:
        """Subscribe, catch up over HTTP, then apply what the broker delivers."""
        client = self.client
        client.transport.attempts = None
        # Subscribed before the catch-up: nothing published after it is missed.
        scoped = self._scoped()
        sub = self.broker.subscribe("_release" if scoped else None)
        try:
            client.pull(_following=True)
            last = time.monotonic()
            while not client.stop.is_set():
                try:
                    message = sub.next(TICK)
                except BrokerError as exc:
                    self._fallback(f"the broker failed ({exc.message})")
                    sub = self._resubscribe(sub, scoped)
                    last = time.monotonic()
                    continue
                now = time.monotonic()
                if message is None:
                    self._idle(now - last)
                    if now - last > self.idle_pull and not self._inside():
                        last = now
                    continue
                last = now
                if self._away:
                    log.warning("broker %s is back; following its messages", self.broker.url)
                    self._away = False
                if scoped:
                    self.stats.wakeups += 1
                    if message.seq > client.store.state().seq:
                        client.pull()
                else:
                    self._take(message)
        finally:
            self._drop()
            sub.close()
            client._save_notified()
        return self.stats

    def _scoped(self) -> bool:
        """Whether the replica follows deltas (some lists, or a scope) rather than the
        chain."""
        if self.client.requested is not None:
            return not self.client.requested.is_full
        try:
            state = self.client.open_existing().state()
        except RegistryError:  # no replica yet: the pull bootstraps every list
            return False
        return not self.client._subscription(state).is_full

    def _resubscribe(self, sub: BrokerSubscription, scoped: bool) -> BrokerSubscription:
        sub.close()
        while not self.client.stop.is_set():
            try:
                return self.broker.subscribe("_release" if scoped else None)
            except BrokerError as exc:
                self._fallback(f"cannot subscribe ({exc.message})", wait=5.0)
        return sub

    def _idle(self, quiet: float) -> None:
        if self._inside() and quiet > self.open_release:
            self._fallback(f"a release from the broker stayed incomplete for {quiet:.0f} s")
        elif not self.broker.connected:
            if not self._away:
                log.warning("broker %s unreachable: following over HTTP until it is back",
                            self.broker.url)
                self._away = True
            self._fallback(None, wait=5.0)
        elif quiet > self.idle_pull and not self._inside():
            # Nothing for a minute: one cheap HTTP look, in case a message was lost.
            self._fallback(None)

    def _inside(self) -> bool:
        return self._applier is not None and self._applier.inside_release

    def _drop(self) -> None:
        if self._applier is not None:
            self._applier.drop()
            self._applier = None

    def _fallback(self, why: str | None, wait: float = 0.0) -> None:
        """Drop what the messages staged and pull over HTTP (long-polling ``wait`` s)."""
        self._drop()
        if why is not None:
            log.warning("%s: pulling over HTTP", why)
        self.stats.fallbacks += 1
        self.client.pull(wait=wait)

    # --- one message ---

    def _take(self, message: FeedMessage) -> None:
        client = self.client
        if self._applier is None:
            state = client.store.state()
            if state.epoch != message.epoch:
                # Another epoch, here or there: HTTP decides (a new snapshot, or nothing
                # for a stale message of an older feed).
                self._fallback(f"a message of epoch {message.epoch}, not {state.epoch}")
                return
            self._applier = ChainApplier(client, state, self._result, confirm=self._confirm)
        applier = self._applier
        if message.epoch != applier.committed.epoch:
            self._fallback(f"a message of epoch {message.epoch}")
            return
        if message.seq <= applier.seq:
            self.stats.replays += 1
            return
        where = f"{self.broker.url} {self.broker.stream} seq {message.seq}"
        if message.seq != applier.seq + 1:
            self._fallback(f"{where}: seq {applier.seq + 1} is missing (a gap)")
            return
        releases = self._result.releases
        try:
            record = self._record(message, where)
            hashes = chain_records([record], applier.hash, message.seq, applier.seq,
                                   applier.hash, where)
            if hashes[0] != message.hash:
                raise FeedIntegrityError(
                    f"{where}: the record does not hash to the chain hash its message names "
                    "(changed, or not this feed's record); refused, nothing was applied")
            applier.add(record, hashes[0], where)
        except (FeedIntegrityError, EpochChanged) as exc:
            self.stats.refused += 1
            self._fallback(f"refused a message from the broker: {exc.message}")
            return
        self.stats.records += 1
        if self._result.releases > releases:
            self.stats.releases += 1

    def _record(self, message: FeedMessage, where: str) -> dict[str, object]:
        """The message's record; its bytes must be exactly the canonical JSON that the
        chain hash covers (the broker's counterpart of a page's digest)."""
        try:
            record = json.loads(message.data)
        except ValueError:
            raise FeedIntegrityError(f"{where}: the message is not a JSON record") from None
        if not isinstance(record, dict) or record.get("seq") != message.seq \
                or record.get("release") != message.release:
            raise FeedIntegrityError(f"{where}: the record's seq or release is not the one "
                                     "its message names")
        if canonical_json(record).encode("utf-8") != message.data:
            raise FeedIntegrityError(f"{where}: the message's bytes are not the record's "
                                     "canonical JSON")
        return record

    def _confirm(self, seq: int, digest: str) -> None:
        """Before a release from the broker commits: the centre published this hash at
        this seq (one request, without touching the local database, whose transaction
        is open)."""
        client = self.client
        head = client._fetch_head()
        epoch = self._applier.committed.epoch if self._applier else None
        if head.epoch != epoch:
            raise EpochChanged("the centre's epoch changed", head.epoch)
        if head.seq < seq:
            raise FeedIntegrityError(f"the broker delivered seq {seq}, beyond the centre's "
                                     f"head at seq {head.seq}; refused")
        published = head.hash if head.seq == seq else None
        if published is None:
            page = page_of(seq, head.page_size)
            try:
                answer = client.transport.get(
                    f"{PREFIX}/hashes/{head.epoch}/{head.page_size}/{page}").json()
                published = {int(s): str(h) for s, h in answer["hashes"]}.get(seq)
            except (SyncError, ValueError, KeyError, TypeError):
                published = None
        if published != digest:
            raise FeedIntegrityError(
                f"the release ending at seq {seq} from the broker does not end at the hash "
                "the centre published there: refused, nothing was applied")
