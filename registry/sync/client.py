"""The replicating client: bootstrap from a snapshot, then follow the feed (DESIGN §9).

:class:`SyncClient` is the facade that the command line and local applications use; each
of its parts is a module of its own:

- :mod:`.bootstrap`: the snapshot, staged page by page, resumable, swapped in at once;
- :mod:`.follow`: change pages (unscoped replicas) and deltas (scoped ones) over HTTP;
- :mod:`.chain`: the checks every change record passes before it is applied;
- :mod:`.apply`: one local transaction per release, committed with the cursor;
- :mod:`.prefetch`: pages fetched ahead while earlier ones are written;
- :mod:`.broker_follow`: releases taken from a message broker instead of long polls;
- :mod:`.verify`: the proof that the replica equals the centre.

A release is applied in one local transaction, with the cursor, however many pages it
spans: the transaction stays open while its pages arrive, and commits at the release
marker. A crash at any point rolls the open transaction back, so nothing is half-applied,
and the next run resumes from the cursor; records at or before the cursor are verified and
skipped, so replaying a page changes nothing. A record format newer than
:data:`~registry.sync.protocol.SUPPORTED_FORMAT` stops the client with "upgrade required"
before its release is committed, so the database stays at the previous release.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from registry import __version__
from registry.errors import RegistryError
from registry.sync.bootstrap import take_snapshot
from registry.sync.collector import collector_released
from registry.sync.errors import (
    EpochChanged,
    FeedIntegrityError,
    SyncError,
    TransportError,
    UpgradeRequired,
)
from registry.sync.follow import follow_deltas, follow_pages
from registry.sync.local_schema import SCHEMA_VERSION
from registry.sync.local_store import LocalState, LocalStore, replica_schema
from registry.sync.protocol import (
    DEFAULT_SNAPSHOT_LIMIT,
    PREFIX,
    SUPPORTED_FORMAT,
    Subscription,
    parse_scope,
)
from registry.sync.results import Progress, PullResult, ReleaseChanges, RemoteHead
from registry.sync.transport import HttpError, Transport
from registry.sync.verify import VerifyReport, verify_replica

__all__ = ["STAGE_COMMIT", "Progress", "PullResult", "ReleaseChanges", "RemoteHead",
           "SyncClient", "default_consumer_name", "run_hook"]

if TYPE_CHECKING:
    from registry.broker.base import Broker
    from registry.sync.broker_follow import BrokerFollowStats

log = logging.getLogger("registry.sync")
STAGE_COMMIT = 50_000


def default_consumer_name(target: str) -> str:
    """A stable name for the ledger: host and database, without credentials."""
    from sqlalchemy.engine import make_url

    url = make_url(target)
    where = url.database or ""
    if url.host:
        where = f"{url.host}/{where}"
    return f"{socket.gethostname()}:{url.get_backend_name()}:{where}"[:128]


class SyncClient:
    """Keeps one local database identical to the centre (or to a subset of it)."""

    def __init__(self, source: str, target: str, *, subscription: Subscription | None = None,
                 token: str | None = None, name: str | None = None,
                 on_release: Callable[[ReleaseChanges], None] | None = None,
                 progress: Progress | None = None, stop: threading.Event | None = None,
                 retry_forever: bool = False, snapshot_limit: int = DEFAULT_SNAPSHOT_LIMIT,
                 supported_format: int = SUPPORTED_FORMAT, attempts: int = 8) -> None:
        self.stop = stop or threading.Event()
        self.transport = Transport(source, token, attempts=None if retry_forever else attempts,
                                   stop=self.stop)
        self.target = target
        self._store: LocalStore | None = None  # opened once the centre has answered
        self.requested = subscription
        self.token = token
        self.name = name or default_consumer_name(target)
        self.on_release = on_release
        self.progress = progress
        self.snapshot_limit = snapshot_limit
        self.supported_format = supported_format
        self.stage_commit = STAGE_COMMIT  # snapshot records per committed step
        self._etag: str | None = None
        self._etag_page: tuple[str, int, int] | None = None
        self._report_failed = False
        self._noted: tuple[int, str] | None = None
        self._noted_at = 0.0
        self._pending_note: dict[str, Any] | None = None
        self._notified: int | None = None
        self._replayed = False
        self._head: RemoteHead | None = None
        self._checked: RemoteHead | None = None
        # The replica's state as this pull's last release committed it (None: read it).
        self._committed: LocalState | None = None
        # The centre is older than deltas for lists without a scope: follow the pages.
        self._lists_by_pages = False

    @property
    def store(self) -> LocalStore:
        """The local database, opened (and its replica tables made) on first use.

        :meth:`pull` first asks the centre for its head and checks the subscription there,
        so a centre that is down, an unknown list or an unknown scope leaves no database
        and no file behind.
        """
        if self._store is None:
            self._store = LocalStore(self.target)
        return self._store

    def open_existing(self) -> LocalStore:
        """The local replica; :class:`~registry.sync.local_store.NoReplica` if there is none
        (nothing is created)."""
        if self._store is None:
            self._store = LocalStore(self.target, create=False)
        return self._store

    def check_centre(self) -> RemoteHead:
        """Ask the centre for its head and check the requested subscription against it,
        before anything is created or changed locally."""
        head = self._fetch_head()
        sub = self.requested
        if sub is not None and (sub.lists is not None or sub.scope is not None):
            # The first snapshot page, one record long, is where the centre checks the lists
            # and the scope; it is cached there, like every snapshot page.
            params = {"lists": ",".join(sub.lists) if sub.lists else None,
                      "scope": str(sub.scope) if sub.scope else None, "limit": 1}
            try:
                self.transport.get(f"{PREFIX}/snapshot/{head.epoch}/{head.release}", params)
            except HttpError as exc:
                if exc.status in (400, 404, 422):
                    raise SyncError(f"the centre at {self.transport.base_url} refuses the "
                                    f"subscription: {exc.body.get('message') or exc.message}"
                                    ) from None
                raise
        return head

    def shutdown(self) -> None:
        """Stop :meth:`follow` from another thread, interrupting a long poll in flight."""
        self.stop.set()
        self.transport.abort()

    def close(self) -> None:
        """Release the connection and the database."""
        self.transport.close()
        if self._store is not None:
            self._store.close()

    # --- entry points ---

    def head(self, wait: float = 0, after: int | None = None) -> RemoteHead:
        """The centre's head (long-polls when ``wait`` and ``after`` are given)."""
        params: dict[str, Any] = {}
        if wait and after is not None:
            params = {"wait": f"{wait:g}", "after": after}
        head = self._fetch_head(params, timeout=wait + 30)
        self._note_head(head)
        return head

    def _fetch_head(self, params: dict[str, Any] | None = None,
                    timeout: float | None = None) -> RemoteHead:
        try:
            data = self.transport.get(f"{PREFIX}/head", params, timeout=timeout).json()
            return RemoteHead(epoch=data["epoch"], seq=int(data["seq"]),
                              release=int(data["release"]), hash=data["hash"],
                              format=int(data.get("format", 1)),
                              page_size=int(data.get("page_size", 1000)))
        except HttpError as exc:
            if exc.status in (404, 405):
                raise SyncError(f"no registry feed at {self.transport.url(PREFIX + '/head')} "
                                f"(HTTP {exc.status}): --from takes the registry's base URL, "
                                "e.g. https://registry.example.gov.vn") from None
            raise
        except (ValueError, KeyError, TypeError):
            raise SyncError(f"{self.transport.url(PREFIX + '/head')} is not a registry's "
                            "head: --from takes the registry's base URL") from None

    def _note_head(self, head: RemoteHead) -> None:
        now = time.monotonic()
        if (head.seq, head.epoch) != self._noted or now - self._noted_at > 30:
            # Bookkeeping for ``status``; a follower polling an idle centre writes it only
            # when the head moves, or every half minute. It goes with the release applied
            # next, if one is, else when ``pull`` returns: a transaction of its own took a
            # millisecond of every one-record release.
            self._pending_note = {"last_contact": datetime.now(UTC), "head_seq": head.seq,
                                  "head_release": head.release}
            self._noted, self._noted_at = (head.seq, head.epoch), now

    def _save_note(self) -> None:
        if self._pending_note is not None and self._store is not None:
            self.store.note(**self._pending_note)
        self._pending_note = None

    def pull(self, wait: float = 0, *, _following: bool = False) -> PullResult:
        """Bring the replica to the centre's head (bootstrapping if needed), then return.

        With ``wait`` > 0 and nothing new, wait up to that long for a release first.
        """
        result = PullResult()
        if self._store is None:
            # Nothing local is created or migrated before the centre has answered and
            # accepted the subscription.
            try:
                self._head = self._checked = self.check_centre()
            except RegistryError as exc:
                self._fail(exc)
                raise
            self._note_head(self._head)
        try:
            if not self._replayed:
                self._replay_notifications()
                self._replayed = True
            for _ in range(3):  # an epoch change during catch-up starts over, once or twice
                try:
                    self._pull_once(result, wait, _following)
                    break
                except EpochChanged as exc:
                    log.warning("the centre's epoch changed (%s): taking a new snapshot",
                                exc.message)
                    self._bootstrap(self.head(), result)
        except RegistryError as exc:
            self._save_note()
            self._save_notified()
            self._fail(exc)
            raise
        self._save_note()
        if not _following:
            self._save_notified()
        state = self._committed or self.store.state()
        result.release, result.seq = state.release, state.seq
        if result.releases or not _following:
            self._report(state)
        return result

    def follow(self, wait: float = 25.0, interval: float = 0.0,
               on_error: Callable[[Exception], None] | None = None) -> None:
        """Apply releases as they are published until :attr:`stop` is set.

        ``interval`` 0 long-polls (a release is applied well within a second); otherwise
        the centre is asked every ``interval`` seconds. Transient failures are retried for
        ever; integrity faults and "upgrade required" stop the loop.
        """
        self.transport.attempts = None
        try:
            self._follow(wait, interval, on_error)
        finally:
            self._save_notified()

    def _follow(self, wait: float, interval: float,
                on_error: Callable[[Exception], None] | None) -> None:
        while not self.stop.is_set():
            try:
                self.pull(wait=0 if interval else wait, _following=not interval)
            except TransportError:
                if self.stop.is_set():
                    return
                raise
            except HttpError as exc:
                if on_error:
                    on_error(exc)
                if self.stop.wait(max(interval, 5.0)):
                    return
                continue
            if interval and self.stop.wait(interval):
                return

    def follow_broker(self, broker: Broker, *, idle_pull: float = 60.0) -> BrokerFollowStats:
        """Apply releases from ``broker``'s messages (checked exactly as change pages are)
        until :attr:`stop` is set; whatever does not fit is pulled over HTTP instead (see
        :mod:`.broker_follow`). ``idle_pull``: seconds without a message before an HTTP
        pull checks that nothing was missed."""
        from registry.sync.broker_follow import BrokerFollower

        return BrokerFollower(self, broker, idle_pull=idle_pull).run()

    def verify(self, detail_limit: int = 20, lists: tuple[str, ...] | None = None,
               jobs: int = 1) -> VerifyReport:
        """Compare this replica with the centre, list by list (see :mod:`.verify`);
        ``lists``: only these; ``jobs``: processes for the checksums of large lists."""
        return verify_replica(self.open_existing(), self.transport, detail_limit, lists,
                              jobs)

    # --- the main path ---

    def _subscription(self, state: LocalState) -> Subscription:
        if self.requested is not None:
            return self.requested
        if state.bootstrapped:
            return state.subscription
        if state.stage:  # an interrupted first bootstrap goes on with what it was taking
            staged = state.stage["subscription"]
            return Subscription(tuple(staged["lists"]) if staged["lists"] else None,
                                parse_scope(staged["scope"]))
        return Subscription()

    def _pull_once(self, result: PullResult, wait: float, following: bool = False) -> None:
        self._committed = None
        state = self.store.state()
        sub = self._subscription(state)
        cached = self._head
        if (following and cached is not None and state.bootstrapped
                and state.epoch == cached.epoch and state.subscription == sub):
            # A follower at the head long-polls the head page straight away: new records,
            # a newer page and a changed epoch all show up in that answer.
            head = RemoteHead(cached.epoch, state.seq, state.release, state.hash or "",
                              cached.format, cached.page_size)
        elif self._checked is not None:  # asked for a moment ago, by check_centre
            head, self._checked = self._checked, None
        else:
            head = self._head = self.head()
        reason = None
        if not state.bootstrapped:
            reason = "empty replica"
        elif state.epoch != head.epoch:
            reason = f"the centre's epoch changed ({state.epoch} → {head.epoch})"
        elif state.subscription != sub:
            reason = (f"the subscription changed ({state.subscription.describe()} → "
                      f"{sub.describe()})")
        if reason:
            log.info("bootstrapping: %s", reason)
            self._bootstrap(head, result, sub)
            state = self.store.state()
        if state.seq > head.seq:
            raise FeedIntegrityError(
                f"the centre's head is at seq {head.seq}, behind this replica's seq "
                f"{state.seq}, in the same epoch {head.epoch}: the centre was restored "
                "without a new epoch. Refusing to merge; ask its operator, or bootstrap "
                "again into an empty database")
        if sub.is_full or (sub.scope is None and self._lists_by_pages):
            follow_pages(self, state, head, result, wait)
            return
        try:
            follow_deltas(self, state, head, result, wait, sub)
        except HttpError as exc:
            # A centre from before deltas for lists without a scope refuses them for want
            # of a scope: such a replica then follows the change pages, as it did then.
            if not (sub.scope is None and exc.status == 400
                    and exc.body.get("field") == "scope"):
                raise
            log.info("the centre serves deltas only with a scope (an older version): "
                     "following its change pages, every record, instead")
            self._lists_by_pages = True
            follow_pages(self, self.store.state(), head, result, wait)

    def _bootstrap(self, head: RemoteHead, result: PullResult,
                   sub: Subscription | None = None) -> None:
        self._committed = None
        take_snapshot(self, head, result, sub)

    # --- shared ---

    def _check_format(self, record: dict[str, Any], where: str) -> None:
        found = record.get("format", 1)
        if isinstance(found, int) and found > self.supported_format:
            state = self.store.state()
            raise UpgradeRequired(
                f"upgrade required: {where} holds record format {found} (seq "
                f"{record.get('seq', '?')}), newer than the format {self.supported_format} this "
                f"client reads. Upgrade the registry package and run again; the local database "
                f"is unchanged, at release {state.release}")

    def _notify(self, changes: ReleaseChanges) -> None:
        if self.on_release is None:
            return
        try:
            with collector_released():
                self.on_release(changes)
        except Exception as exc:  # a broken hook must not stop replication
            log.error("the on-release hook failed for release %d: %s", changes.release, exc)
        # Written with the next release's transaction (or when ``pull`` returns), not in a
        # transaction of its own: a crash before then calls the hook again on restart.
        self._notified = changes.release

    def _save_notified(self) -> None:
        if self._notified is not None:
            self.store.note(notified_release=self._notified)
            self._notified = None

    def _replay_notifications(self) -> None:
        """Call the hook for releases committed but not notified (a crash came between)."""
        if self.on_release is None:
            return
        state = self.store.state()
        if not state.bootstrapped or (state.notified_release or 0) >= state.release:
            return
        from sqlalchemy import select

        from registry.sync.local_schema import releases as releases_table

        with self.store.engine.connect() as conn:
            pending = list(conn.execute(
                select(releases_table)
                .where(releases_table.c.release_id > (state.notified_release or 0))
                .order_by(releases_table.c.release_id)))
            for row in pending:
                found = self.store.release_records(conn, row.release_id)
                changes = ReleaseChanges(
                    release=row.release_id, seq=row.seq, title=row.title,
                    effective_date=row.effective_date.isoformat() if row.effective_date
                    else None, change_set=row.change_set, published_at=row.published_at,
                    versions=found["versions"], links=found["links"],
                    removals=list(row.removals or []))
                self._notify(changes)

    def _fail(self, exc: Exception) -> None:
        message = getattr(exc, "message", str(exc))
        if self._store is None:
            # The centre failed before the replica was opened: record the error only in a
            # replica that exists already, at this client's schema (nothing is created).
            try:
                if replica_schema(self.target) != SCHEMA_VERSION:
                    return
            except Exception:  # an unreachable local database: the error itself matters
                return
        try:
            self.store.note(last_error=message, last_error_at=datetime.now(UTC))
            self._report(self.store.state(), quiet=True)
        except Exception:  # the error being reported matters more than this bookkeeping
            log.debug("could not record the error", exc_info=True)

    def _report(self, state: LocalState, quiet: bool = False) -> None:
        """Tell the centre's ledger where this replica stands (needs a token)."""
        if not self.token or self._report_failed:
            return
        body = {"name": self.name, "epoch": state.epoch, "seq": state.seq,
                "release": state.release, "lists": list(state.lists) if state.lists else None,
                "scope": state.scope, "last_error": state.last_error,
                "client_version": __version__}
        try:
            self.transport.post(f"{PREFIX}/ledger", body)
        except HttpError as exc:
            self._report_failed = True  # e.g. a reader token: say it once, keep syncing
            log.warning("the centre refused the position report: %s", exc.message)
        except TransportError as exc:
            if not quiet:
                log.warning("could not report the position: %s", exc.message)



def run_hook(command: str) -> Callable[[ReleaseChanges], None]:
    """An ``on_release`` that runs a shell command with the changes as JSON on stdin."""
    import os
    import subprocess

    def hook(changes: ReleaseChanges) -> None:
        env = {**os.environ, "REGISTRY_RELEASE": str(changes.release),
               "REGISTRY_SEQ": str(changes.seq),
               "REGISTRY_BOOTSTRAP": "1" if changes.bootstrap else "0"}
        done = subprocess.run(command, shell=True, env=env, check=False,
                              input=json.dumps(changes.as_dict(), ensure_ascii=False,
                                               default=str).encode("utf-8"))
        if done.returncode != 0:
            raise SyncError(f"'{command}' exited with status {done.returncode}")
    return hook
