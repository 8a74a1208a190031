"""The replicating client: bootstrap from a snapshot, then follow the feed (DESIGN §9).

- **Unscoped** replicas (all lists, or some) follow the hash-chained change pages. Every
  page is checked before anything is applied: its digest, its place (epoch, page, first
  seq, no gaps), and the chain from the replica's own cursor to the page's last hash.
- **Scoped** replicas apply one delta per release and prove the result against the
  centre's checksums of the scoped lists, in the same transaction.

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
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from registry import __version__
from registry.errors import Conflict, RegistryError
from registry.services.feed import canonical_json, chain_hash
from registry.sync.codec import check_digest, decode_header, decode_records, decode_rows
from registry.sync.errors import (
    EpochChanged,
    FeedIntegrityError,
    SyncError,
    TransportError,
    UpgradeRequired,
)
from registry.sync.local_schema import (
    SCHEMA_VERSION,
    stage_lineage,
    stage_lists,
    stage_versions,
)
from registry.sync.local_store import (
    Batch,
    LocalState,
    LocalStore,
    Locked,
    link_row,
    list_row,
    replica_schema,
)
from registry.sync.protocol import (
    DEFAULT_SNAPSHOT_LIMIT,
    PREFIX,
    SNAPSHOT_VERSION_KEYS,
    SUPPORTED_FORMAT,
    Subscription,
    from_wire,
    page_of,
    parse_scope,
)
from registry.sync.transport import Answer, HttpError, Transport
from registry.sync.verify import VerifyReport, verify_replica

log = logging.getLogger("registry.sync")
STAGE_COMMIT = 50_000


class Progress(Protocol):
    """Where bootstrap progress goes (a rich bar in the CLI, nothing in quiet mode)."""

    def start(self, total: int, description: str) -> None:
        """A task of ``total`` records begins."""

    def advance(self, count: int) -> None:
        """``count`` more records are done."""

    def finish(self) -> None:
        """The task is over."""


@dataclass
class ReleaseChanges:
    """What one applied release changed in this replica (given to ``on_release``)."""

    release: int
    seq: int
    title: str | None = None
    effective_date: str | None = None
    change_set: int | None = None
    published_at: str | None = None
    bootstrap: bool = False
    versions: list[dict[str, Any]] = field(default_factory=list)
    removals: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        """Note one applied record."""
        kind = record.get("t")
        if kind == "version":
            self.versions.append(record)
        elif kind == "link":
            self.links.append(record)
        elif kind == "list":
            self.lists.append(record)
        elif kind == "remove":
            self.removals.append(record)

    def mark(self, marker: dict[str, Any]) -> None:
        """Take the release's description from its marker record."""
        self.title = marker.get("title") or marker.get("note")
        self.effective_date = marker.get("effective_date")
        self.change_set = marker.get("change_set")
        self.published_at = marker.get("published_at")

    def as_dict(self) -> dict[str, Any]:
        """JSON form (what ``--on-release`` commands read on stdin)."""
        return {"release": self.release, "seq": self.seq, "title": self.title,
                "effective_date": self.effective_date, "change_set": self.change_set,
                "published_at": self.published_at, "bootstrap": self.bootstrap,
                "versions": self.versions, "removals": self.removals, "links": self.links,
                "lists": self.lists, "counts": self.counts}


@dataclass
class PullResult:
    """What one ``pull`` did."""

    bootstrapped: bool = False
    releases: int = 0
    records: int = 0
    release: int = 0
    seq: int = 0


@dataclass(frozen=True)
class RemoteHead:
    """The centre's head."""

    epoch: str
    seq: int
    release: int
    hash: str
    format: int
    page_size: int


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
        self._notified: int | None = None
        self._replayed = False
        self._head: RemoteHead | None = None
        self._checked: RemoteHead | None = None

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
            # when the head moves, or every half minute.
            self.store.note(last_contact=datetime.now(UTC), head_seq=head.seq,
                            head_release=head.release)
            self._noted, self._noted_at = (head.seq, head.epoch), now

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
            self._save_notified()
            self._fail(exc)
            raise
        if not _following:
            self._save_notified()
        state = self.store.state()
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
        if sub.is_full:
            self._follow_pages(state, head, result, wait)
        else:
            self._follow_deltas(state, head, result, wait, sub)

    # --- bootstrap ---

    def _bootstrap(self, head: RemoteHead, result: PullResult,
                   sub: Subscription | None = None) -> None:
        """Take a snapshot into the stage tables, page by page (each page committed with its
        position, so an interrupted bootstrap resumes), then swap it in at once."""
        sub = sub or self._subscription(self.store.state())
        stage = self.store.state().stage
        if (stage and stage.get("epoch") == head.epoch
                and stage.get("subscription") == sub.as_dict()):
            log.info("resuming the snapshot of release %d", stage["release"])
        else:
            stage = {"epoch": head.epoch, "release": head.release,
                     "subscription": sub.as_dict(), "next": None, "done": False,
                     "counted": {}, "declared": None, "seq": None, "hash": None}
            with self.store.transaction() as (conn, _state):
                self.store.clear_stage(conn)
                self.store.set_state(conn, stage=stage)
        release = int(stage["release"])
        counted: dict[str, dict[str, int]] = stage["counted"]
        started = False
        locked: Locked | None = None
        pending = 0
        pages = None if stage["done"] else _Prefetch(
            self, f"{PREFIX}/snapshot/{head.epoch}/{release}", sub, stage["next"])
        try:
            for header, body, where in pages or ():
                if header.get("t") != "snapshot" or header.get("epoch") != head.epoch \
                        or header.get("release") != release:
                    raise FeedIntegrityError(f"{where}: this is not the snapshot page that "
                                             "was asked for; nothing was applied")
                self._check_format(header, where)
                if stage["declared"] is None:
                    stage.update(declared=header.get("lists") or {}, seq=int(header["seq"]),
                                 hash=str(header["hash"]))
                if self.progress and not started:
                    total = sum(v["versions"] + v["links"] for v in stage["declared"].values())
                    self.progress.start(total, f"snapshot of release {release}")
                    self.progress.advance(sum(v["versions"] + v["links"]
                                              for v in counted.values()))
                    started = True
                if locked is None:
                    locked = self.store.begin()
                    if (locked.state.stage or {}).get("next") != header.get("after"):
                        raise Conflict("another client is writing this snapshot; run one "
                                       "client per database")
                n = self._apply_snapshot_page(locked.conn, header, body, where, counted)
                stage.update(next=header.get("next"), done=not header.get("next"),
                             counted=counted)
                pending += n
                if pending >= self.stage_commit or stage["done"]:
                    # Commit the pages with their position, every 50,000 records or so:
                    # fewer commits are faster, and a restart loses at most that much.
                    self.store.set_state(locked.conn, stage=stage)
                    locked.commit()
                    locked, pending = None, 0
                if self.progress:
                    self.progress.advance(n)
                result.records += n
        finally:
            if locked is not None:
                locked.rollback()
            if pages is not None:
                pages.close()
            if started and self.progress:
                self.progress.finish()
        declared: dict[str, dict[str, int]] = stage["declared"] or {}
        for key, want in declared.items():
            have = counted.get(key, {"versions": 0, "links": 0})
            if have != want:
                with self.store.transaction() as (conn, _state):
                    self.store.clear_stage(conn)
                    self.store.set_state(conn, stage=None)
                raise FeedIntegrityError(
                    f"snapshot of release {release}: '{key}' arrived with {have['versions']} "
                    f"versions and {have['links']} links, the centre announced "
                    f"{want['versions']} and {want['links']}; nothing was applied")
        seq, digest = int(stage["seq"]), str(stage["hash"])
        with self.store.transaction() as (conn, _state):
            self.store.promote_stage(conn)
            self.store.record_release(conn, release, seq, digest, {"title": "snapshot"})
            self.store.set_state(
                conn, source=self.transport.base_url, epoch=head.epoch, seq=seq, hash=digest,
                release_id=release, lists=sub.lists,
                scope=str(sub.scope) if sub.scope else None, consumer=self.name,
                record_format=self.supported_format, bootstrapped_at=datetime.now(UTC),
                applied_at=datetime.now(UTC), notified_release=release, last_error=None,
                last_error_at=None, stage=None)
        result.bootstrapped = True
        log.info("bootstrapped at release %d (seq %d): %d records", release, seq,
                 sum(v["versions"] + v["links"] for v in counted.values()))
        self._notify(ReleaseChanges(release=release, seq=seq, bootstrap=True, counts=counted))

    def _apply_snapshot_page(self, conn: Connection, header: dict[str, Any], body: bytes,
                             where: str, counted: dict[str, dict[str, int]]) -> int:
        """Write one snapshot page; return how many versions and links it held."""
        schemas = [tuple(keys) for keys in header.get("schemas", [])]
        if self.store.dialect in ("sqlite", "postgresql") and SNAPSHOT_VERSION_KEYS in schemas:
            return self._stage_page_lines(conn, header, body, where, schemas, counted)
        return self._apply_snapshot_records(conn, header, body, where, counted)

    def _apply_snapshot_records(self, conn: Connection, header: dict[str, Any], body: bytes,
                                where: str, counted: dict[str, dict[str, int]]) -> int:
        """Write snapshot records through Python, into the typed stage tables."""
        schemas, rows = decode_rows(header, body, where)
        groups: dict[int, list[list[Any]]] = {}
        for values in rows:
            groups.setdefault(values[0], []).append(values)
        batch = Batch()
        links: list[dict[str, Any]] = []
        n = 0
        for index, group in groups.items():
            keys = schemas[index]
            if "t" not in keys:
                raise FeedIntegrityError(f"{where}: a snapshot record without a type")
            at = {key: i + 1 for i, key in enumerate(keys)}
            kinds = {values[at["t"]] for values in group}
            fields = [k if k in at else "attributes_json" if k == "attributes" else k
                      for k in _BULK_FIELDS]
            if kinds == {"version"} and all(k in at for k in fields):
                # The fast path: straight from the page's value lists to insert parameters;
                # the attributes arrive as JSON text and are stored as they are.
                pick = itemgetter(*(at[k] for k in fields))
                if fields[11] == "attributes_json":
                    bulk = list(map(pick, group))
                else:
                    bulk = [(*row[:11], json.dumps(row[11] or {}), *row[12:])
                            for row in map(pick, group)]
                for list_key, number in Counter(row[0] for row in bulk).items():
                    counted.setdefault(list_key, {"versions": 0, "links": 0})[
                        "versions"] += number
                self.store.bulk_versions(conn, bulk, stage_versions)
                n += len(bulk)
                continue
            for values in group:
                record = from_wire(dict(zip(keys, values[1:], strict=True)))
                kind = record["t"]
                if kind == "version":
                    self.store.bulk_versions(conn, [_bulk(record)], stage_versions)
                    counted.setdefault(record["list"], {"versions": 0, "links": 0})[
                        "versions"] += 1
                    n += 1
                elif kind == "link":
                    links.append(link_row(record))
                    counted.setdefault(record["list"], {"versions": 0, "links": 0})[
                        "links"] += 1
                    n += 1
                elif kind == "list":
                    batch.code_list(list_row(record))
                    counted.setdefault(record["key"], {"versions": 0, "links": 0})
                else:
                    raise FeedIntegrityError(f"{where}: unknown snapshot record type {kind!r}")
        self.store.insert_rows(conn, stage_lists, list(batch.lists.values()))
        self.store.insert_rows(conn, stage_lineage, links)
        return n

    def _stage_page_lines(self, conn: Connection, header: dict[str, Any], body: bytes,
                          where: str, schemas: list[tuple[str, ...]],
                          counted: dict[str, dict[str, int]]) -> int:
        """SQLite and PostgreSQL: stage the page's version lines as they are (see
        ``stage_lines``); parse only the other records, and the ends of each run of
        versions to count them."""
        lines = body.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if len(lines) != header.get("count"):
            raise FeedIntegrityError(f"{where}: {len(lines)} lines where the header announces "
                                     f"{header.get('count')}; nothing was applied")
        prefix = f"[{schemas.index(SNAPSHOT_VERSION_KEYS)},".encode()
        staged = [line for line in lines if line.startswith(prefix)]
        others = [line for line in lines if not line.startswith(prefix)]
        n = 0
        if staged:
            at = SNAPSHOT_VERSION_KEYS.index("list") + 1
            try:
                first, last = json.loads(staged[0]), json.loads(staged[-1])
                if first[at] == last[at]:  # a page holds one list, or the end of one and
                    keys = [first[at]] * len(staged)  # the start of the next: runs by list
                else:
                    keys = [json.loads(line)[at] for line in staged]
            except (ValueError, IndexError, TypeError):
                raise FeedIntegrityError(f"{where}: a version line is not valid JSON; "
                                         "nothing was applied") from None
            for list_key, number in Counter(keys).items():
                counted.setdefault(list_key, {"versions": 0, "links": 0})["versions"] += number
            self.store.stage_lines(conn, [line.decode("utf-8") for line in staged])
            n += len(staged)
        if others:
            rest = dict(header, count=len(others))
            n += self._apply_snapshot_records(conn, rest, b"\n".join(others) + b"\n", where,
                                              counted)
        return n

    # --- unscoped: change pages ---

    def _page(self, head: RemoteHead, page: int, wait: float, after: int | None) -> Answer:
        path = f"{PREFIX}/changes/{head.epoch}/{head.page_size}/{page}"
        headers: dict[str, str] = {}
        params: dict[str, Any] = {}
        if after is not None:
            params["after"] = after  # only what is new; the long poll waits for it
            if wait:
                params["wait"] = f"{wait:g}"
        elif wait and self._etag and self._etag_page == (head.epoch, head.page_size, page):
            headers["If-None-Match"] = self._etag
            params["wait"] = f"{wait:g}"
        answer = self.transport.get(path, params, headers=headers, timeout=wait + 30)
        if answer.status == 200 and "etag" in answer.headers:
            self._etag, self._etag_page = answer.headers["etag"], (head.epoch,
                                                                  head.page_size, page)
        return answer

    def _follow_pages(self, state: LocalState, head: RemoteHead, result: PullResult,
                      wait: float) -> None:
        size = head.page_size
        committed = state
        staged_seq, staged_hash = state.seq, state.hash or ""
        known_head = head.seq
        page = page_of(staged_seq + 1, size)
        open_txn: _OpenRelease | None = None
        waited = False
        # Complete pages up to the head are fetched ahead, while earlier ones are applied.
        ahead = _PagePrefetch(self, head, page, page_of(known_head, size) - 1) \
            if page < page_of(known_head, size) else None
        try:
            while not self.stop.is_set():
                use_wait = 0.0
                if staged_seq >= known_head:
                    if not wait or waited:
                        break
                    use_wait, waited = wait, True
                # The head page is asked for "after the cursor": a follower receives and
                # verifies only what is new, not the page's earlier records again.
                after = staged_seq if page >= page_of(known_head, size) else None
                if ahead is not None and ahead.has(page):
                    answer = ahead.take(page)
                else:
                    answer = self._page(head, page, use_wait, after)
                if answer.status == 304:
                    break
                where = self.transport.url(f"{PREFIX}/changes/{head.epoch}/{size}/{page}")
                header, body = decode_header(answer.body, where, check=False)
                records, hashes = self._verify_page(header, body, where, head, page, size,
                                                    staged_seq, staged_hash, after)
                check_digest(header, body, where)
                for record, digest in zip(records, hashes, strict=True):
                    if record["seq"] <= staged_seq:
                        continue  # applied before: verified above, skipped here
                    self._check_format(record, where)
                    if open_txn is None:
                        open_txn = _OpenRelease(self, committed)
                    open_txn.add(record)
                    staged_seq, staged_hash = record["seq"], digest
                    if record.get("t") == "release":
                        applied = open_txn.commit(record, staged_seq, staged_hash)
                        open_txn = None
                        committed = self.store.state()
                        result.releases += 1
                        result.records += applied.records
                        self._notify(applied.changes)
                        self._report(committed, quiet=True)
                if header.get("complete"):
                    # A full page: the next one may hold more (a release can go on there),
                    # whatever head we started from.
                    known_head = max(known_head, staged_seq + 1)
                    page += 1
                    continue
                if open_txn is not None:
                    # A head page never ends inside a release, since a release commits at
                    # once; a page that does is stale or wrong: drop what it staged.
                    log.warning("%s ends inside release %s; not applied", where,
                                open_txn.release)
                    open_txn.rollback()
                    open_txn = None
                    staged_seq, staged_hash = committed.seq, committed.hash or ""
                known_head = max(known_head, staged_seq)
                if waited or not wait:
                    break
        finally:
            if ahead is not None:
                ahead.close()
            if open_txn is not None:
                open_txn.rollback()

    def _verify_page(self, header: dict[str, Any], body: bytes, where: str, head: RemoteHead,
                     page: int, size: int, staged_seq: int, staged_hash: str,
                     after: int | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        first = page * size + 1 if after is None else after + 1
        if (header.get("t") != "page" or header.get("epoch") != head.epoch
                or header.get("page") != page or header.get("size") != size
                or header.get("first") != first):
            raise FeedIntegrityError(
                f"{where}: the answer is page {header.get('page')} of epoch "
                f"{header.get('epoch')} starting at seq {header.get('first')}, not page {page} "
                f"starting at seq {first}: a skipped or misplaced page is refused; nothing was "
                "applied")
        records = list(decode_records(header, body, where))
        digest = str(header.get("prev"))
        if first - 1 == staged_seq and digest != staged_hash:
            raise FeedIntegrityError(
                f"{where}: the page does not continue this replica's chain at seq {staged_seq} "
                f"(the centre says {digest[:16]}…, this replica has {staged_hash[:16]}…): a "
                "fork; nothing was applied")
        hashes: list[str] = []
        expected = first
        for record in records:
            seq = record.get("seq")
            if seq != expected:
                raise FeedIntegrityError(
                    f"{where}: seq {expected} is missing (the page goes on with seq {seq}): a "
                    "gap is refused; nothing was applied")
            digest = chain_hash(digest, canonical_json(record))
            hashes.append(digest)
            if seq == staged_seq and digest != staged_hash:
                raise FeedIntegrityError(
                    f"{where}: seq {seq} hashes to {digest[:16]}… but this replica applied "
                    f"{staged_hash[:16]}… there: the feed forked; nothing was applied")
            expected += 1
        if records and (records[-1]["seq"] != header.get("last")):
            raise FeedIntegrityError(f"{where}: the page ends at seq {records[-1]['seq']}, its "
                                     f"header says {header.get('last')}; nothing was applied")
        if digest != header.get("hash"):
            raise FeedIntegrityError(self._name_bad_seq(head, page, size, records, hashes, where,
                                                        str(header.get("prev"))))
        return records, hashes

    def _name_bad_seq(self, head: RemoteHead, page: int, size: int,
                      records: list[dict[str, Any]], hashes: list[str], where: str,
                      prev: str) -> str:
        """Find the first record that does not hash as the centre published it."""
        first = records[0]["seq"] if records else page * size + 1
        last = records[-1]["seq"] if records else first
        try:
            published = self.transport.get(
                f"{PREFIX}/hashes/{head.epoch}/{size}/{page}").json()["hashes"]
            by_seq = {int(seq): digest for seq, digest in published}
            for record, digest in zip(records, hashes, strict=True):
                if by_seq.get(record["seq"]) != digest:
                    return (f"{where}: seq {record['seq']} does not match the hash the centre "
                            "published for it (the record was changed in transit or in a "
                            "cache); the page was refused and nothing was applied")
        except (SyncError, ValueError, KeyError, TypeError):
            pass
        return (f"{where}: the records of seqs {first}–{last} do not hash to the page's "
                f"published chain hash; the page was refused and nothing was applied")

    # --- scoped: deltas ---

    def _follow_deltas(self, state: LocalState, head: RemoteHead, result: PullResult,
                       wait: float, sub: Subscription) -> None:
        waited = False
        while not self.stop.is_set():
            if state.release >= head.release:
                if not wait or waited:
                    return
                head = self.head(wait=wait, after=state.seq)
                waited = True
                if head.epoch != state.epoch:
                    raise EpochChanged("the centre's epoch changed", head.epoch)
                continue
            release = state.release + 1
            path = f"{PREFIX}/deltas/{head.epoch}/{release}"
            params = {"lists": ",".join(sub.lists) if sub.lists else None,
                      "scope": str(sub.scope)}
            where = self.transport.url(path, params)
            answer = self.transport.get(path, params)
            header, body = decode_header(answer.body, where)
            self._check_format(header, where)
            if (header.get("t") != "delta" or header.get("epoch") != head.epoch
                    or header.get("release") != release
                    or header.get("from_release") != release - 1):
                raise FeedIntegrityError(f"{where}: this is not the delta of release {release}; "
                                         "nothing was applied")
            records = list(decode_records(header, body, where))
            applied = self._apply_delta(state, header, records, where)
            state = self.store.state()
            result.releases += 1
            result.records += applied.records
            self._notify(applied.changes)
            self._report(state, quiet=True)

    def _apply_delta(self, state: LocalState, header: dict[str, Any],
                     records: list[dict[str, Any]], where: str) -> _Applied:
        release = int(header["release"])
        txn = _OpenRelease(self, state)
        try:
            marker: dict[str, Any] = {}
            for record in records:
                self._check_format(record, where)
                if record.get("t") == "release":
                    marker = record
                else:
                    txn.add(record)
            txn.flush()
            wanted = header.get("checksums") or {}
            local = self.store.checksums(sorted(wanted), txn.conn)
            from registry.services.checksums import ListChecksum

            for key, data in sorted(wanted.items()):
                centre = ListChecksum.from_dict(data)
                mine = local.get(key, ListChecksum(key))
                if mine.checksum != centre.checksum:
                    detail = "; ".join(mine.differences(centre)) or "the content differs"
                    raise FeedIntegrityError(
                        f"{where}: after applying release {release}, '{key}' does not match "
                        f"the centre's checksum ({detail}); the release was refused and "
                        "nothing was applied")
            return txn.commit({**marker, "t": "release"}, int(header["seq"]),
                              str(header["hash"]), release=release)
        finally:
            txn.rollback()

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


@dataclass
class _Applied:
    records: int
    changes: ReleaseChanges


_BULK_FIELDS = ("list", "code", "valid_from", "valid_to", "status", "name", "short_name",
                "name_en", "type", "level", "parent", "attributes", "release", "change_set")


def _bulk(record: dict[str, Any]) -> tuple[Any, ...]:
    row = [record[k] for k in _BULK_FIELDS]
    row[11] = json.dumps(record["attributes"] or {})
    return tuple(row)


class _OpenRelease:
    """The local transaction of one release, open while its pages arrive."""

    def __init__(self, client: SyncClient, committed: LocalState) -> None:
        self.client = client
        self.store = client.store
        self.sub = client._subscription(committed)
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

    def add(self, record: dict[str, Any]) -> None:
        """Stage one record (records of lists outside the subscription are skipped)."""
        kind = record.get("t")
        self.release = record.get("release", self.release)
        if kind == "release":
            return
        key = record.get("key") if kind == "list" else record.get("list")
        if key is not None and not self.sub.includes(str(key)):
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
        if len(self.batch) >= 2000:
            self.flush()

    def flush(self) -> None:
        """Write what is staged, inside the open transaction."""
        self.store.flush(self.conn, self.batch)

    def commit(self, marker: dict[str, Any], seq: int, digest: str,
               release: int | None = None) -> _Applied:
        """Write the rest, the release row and the cursor, and commit them together."""
        number = int(release if release is not None else marker["release"])
        self.flush()
        self.store.record_release(self.conn, number, seq, digest, marker, self.removals)
        now = datetime.now(UTC)
        extra: dict[str, Any] = {}
        if self.client._notified is not None:
            extra["notified_release"] = self.client._notified
        self.store.set_state(self.conn, seq=seq, hash=digest, release_id=number,
                             applied_at=now, last_error=None, last_error_at=None,
                             last_contact=now, head_seq=max(self.locked.state.head_seq or 0, seq),
                             head_release=max(self.locked.state.head_release or 0, number),
                             **extra)
        self.locked.commit()
        self.client._notified = None
        changes = self.changes or ReleaseChanges(release=number, seq=seq)
        changes.release, changes.seq = number, seq
        changes.mark(marker)
        log.info("applied release %d (seq %d, %d records)", number, seq, self.records)
        return _Applied(self.records, changes)

    def rollback(self) -> None:
        """Forget everything staged (idempotent)."""
        self.locked.rollback()


class _Prefetch:
    """Fetches the next snapshot page while the current one is being written."""

    def __init__(self, client: SyncClient, path: str, sub: Subscription,
                 start: str | None = None) -> None:
        self.client = client
        self.start = start
        self.path = path
        self.params = {"lists": ",".join(sub.lists) if sub.lists else None,
                       "scope": str(sub.scope) if sub.scope else None,
                       "limit": client.snapshot_limit}
        self.queue: queue.Queue[tuple[dict[str, Any], bytes, str] | BaseException | None] = \
            queue.Queue(maxsize=2)
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _put(self, item: tuple[dict[str, Any], bytes, str] | BaseException | None) -> bool:
        while not self.closed.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        token = self.start
        try:
            while not self.closed.is_set():
                params = {**self.params, "after": token}
                where = self.client.transport.url(self.path, params)
                answer = self.client.transport.get(self.path, params)
                header, body = decode_header(answer.body, where)
                if header.get("after") != token:
                    raise FeedIntegrityError(f"{where}: the page continues from "
                                             f"{header.get('after')!r}, not {token!r}")
                if not self._put((header, body, where)):
                    return
                token = header.get("next")
                if not token:
                    break
            self._put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def __iter__(self) -> Iterator[tuple[dict[str, Any], bytes, str]]:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.closed.set()
        self.thread.join(timeout=5)


class _PagePrefetch:
    """Fetches complete change pages ``first … last`` in order, on a connection of its own,
    a couple of pages ahead of the one being applied."""

    def __init__(self, client: SyncClient, head: RemoteHead, first: int, last: int) -> None:
        source = client.transport
        self.transport = Transport(source.base_url, source.token, attempts=source.attempts,
                                   stop=source.stop)
        self.path = f"{PREFIX}/changes/{head.epoch}/{head.page_size}"
        self.first, self.last = first, last
        self.queue: queue.Queue[Answer | BaseException] = queue.Queue(maxsize=3)
        self.closed = threading.Event()
        self.next = first
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for page in range(self.first, self.last + 1):
            try:
                item: Answer | BaseException = self.transport.get(f"{self.path}/{page}")
            except BaseException as exc:  # handed to the consumer, which raises it
                item = exc
            while not self.closed.is_set():
                try:
                    self.queue.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if self.closed.is_set() or isinstance(item, BaseException):
                return

    def has(self, page: int) -> bool:
        """Whether ``page`` is the next one this prefetcher delivers."""
        return page == self.next and page <= self.last

    def take(self, page: int) -> Answer:
        """The answer for ``page`` (waits for it)."""
        item = self.queue.get()
        self.next += 1
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop fetching and drop the connection."""
        self.closed.set()
        self.transport.abort()
        self.thread.join(timeout=5)
        self.transport.close()


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
