"""The centre's side of sync: builds pages, snapshots, deltas and checksums, and caches them.

Everything here is synchronous and runs in the request thread pool; the routes module
turns it into HTTP. Immutable answers (complete pages, snapshots, deltas and checksums at
a release) are cached in memory, gzipped once, so that a crowd of replicas asking for the
same page costs one database query and one compression.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.errors import NotFound
from registry.replicas import Need, ReadRouter
from registry.services.checksum_log import checksum_at
from registry.services.checksums import ListAt, ListChecksum, centre_checksums
from registry.services.feed import Head, read_head, read_head_committed
from registry.services.read_memo import remember_reads
from registry.sync import stored_changes, stored_pages
from registry.sync.codec import gzip_bytes
from registry.sync.deltas import build_delta, scoped_checksum, span_records_from_env
from registry.sync.errors import EpochChanged
from registry.sync.feed_pages import ChangePage, build_change_page, page_bounds, page_hashes
from registry.sync.followers import FollowerActivity
from registry.sync.listener import FeedListener
from registry.sync.metrics import PAGES_AHEAD, SNAPSHOT_PAGES
from registry.sync.prebuild import ReleaseWalk
from registry.sync.protocol import DEFAULT_SNAPSHOT_LIMIT, Subscription
from registry.sync.scope import ScopedView, compute_view
from registry.sync.snapshot import (
    ReleasePoint,
    build_snapshot_page,
    release_point,
    subscribed_lists,
)
from registry.sync.stored_changes import page_size_from_env
from registry.sync.watcher import HeadWatcher

log = logging.getLogger("registry.sync")


class Body:
    """An answer body, kept gzipped once a client has asked for gzip (most do), so that
    cached pages cost their compressed size."""

    def __init__(self, raw: bytes, level: int = 6) -> None:
        self._raw: bytes | None = raw
        self._gz: bytes | None = None
        self.level = level
        self._lock = threading.Lock()

    @classmethod
    def gzipped(cls, gz: bytes) -> Body:
        """A body already gzipped (a stored page)."""
        body = cls(b"")
        body._raw, body._gz = None, gz
        return body

    def weight(self) -> int:
        """Bytes held: the gzipped size once compressed, else the plain size."""
        return len(self._gz if self._gz is not None else self._raw or b"")

    @property
    def gz(self) -> bytes:
        """The gzipped bytes (compressed once)."""
        with self._lock:
            if self._gz is None:
                assert self._raw is not None
                self._gz = gzip_bytes(self._raw, self.level)
                self._raw = None
            return self._gz

    @property
    def raw(self) -> bytes:
        """The plain bytes."""
        with self._lock:
            if self._raw is not None:
                return self._raw
            assert self._gz is not None
            return gzip.decompress(self._gz)


class LRU:
    """A small thread-safe least-recently-used cache, bounded by entry count and, when
    given a ``weigh`` function, by the total weight (bytes) of its values."""

    def __init__(self, size: int, weigh: Callable[[Any], int] | None = None,
                 budget: int = 0) -> None:
        self.size = size
        self._weigh = weigh
        self._budget = budget
        self._weight = 0
        self._weights: dict[Any, int] = {}  # as weighed when put (a body may shrink later)
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[Any, Future[Any]] = {}  # keys being made, and their outcome

    def get(self, key: Any) -> Any:
        """The cached value of ``key``, or ``None``."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        """Remember ``value`` under ``key``."""
        with self._lock:
            self._put(key, value)

    def get_or_make(self, key: Any, make: Callable[[], Any]) -> Any:
        """The cached value of ``key``, made (outside the lock) when missing, once: the
        followers a release wakes together ask for the same pages at the same moment, and
        the ones that come while a page is being made wait for it instead of making it
        again (a making that fails is tried again by each of them)."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            making = self._making.get(key)
            mine = making is None
            if making is None:
                making = self._making[key] = Future()
        if not mine:
            try:
                return making.result()
            except Exception:
                return make()
        try:
            value = make()
        except BaseException as exc:
            with self._lock:
                self._making.pop(key, None)
            making.set_exception(exc)
            raise
        with self._lock:
            self._put(key, value)
            self._making.pop(key, None)
        making.set_result(value)
        return value

    def _put(self, key: Any, value: Any) -> None:
        if self._weigh is not None:
            weight = self._weigh(value)
            self._weight += weight - self._weights.get(key, 0)
            self._weights[key] = weight
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size or (self._weigh is not None and len(self._data) > 1
                                              and self._weight > self._budget):
            dropped, _ = self._data.popitem(last=False)
            self._weight -= self._weights.pop(dropped, 0)


def cache_bytes_from_env() -> int:
    """``REGISTRY_SYNC_CACHE_MB`` (default 64): memory for snapshot pages and deltas, gzipped.
    A million-version snapshot is about 8 MB, so a crowd bootstrapping the same release is
    served from memory; what does not fit is read back from the stored pages."""
    return max(1, int(os.environ.get("REGISTRY_SYNC_CACHE_MB", "64"))) << 20


class SyncServer:
    """State shared by the sync routes of one app: sessions, caches and the head watcher."""

    def __init__(self, sessions: sessionmaker[Session], page_size: int | None = None,
                 router: ReadRouter | None = None) -> None:
        self.sessions = sessions
        # Pages, snapshots, deltas and checksums may be read on a standby that has replayed
        # what they need; the head, the epoch check and stored pages stay on the primary.
        self.router = router or ReadRouter(sessions, [])
        self.page_size = page_size or page_size_from_env()
        self.span_records = span_records_from_env()
        bind = sessions.kw.get("bind")
        # A SQLite centre keeps its pages in memory only: storing them would make the sync
        # server a writer competing with stewards' commands for SQLite's one write lock
        # (a command that read before a page was stored then fails with "database is
        # locked"). SQLite centres are small; the stored pages are for PostgreSQL centres.
        self.store_pages = isinstance(bind, Engine) and bind.dialect.name != "sqlite"
        self.listener = FeedListener.for_engine(bind) if isinstance(bind, Engine) else None
        self.watcher = HeadWatcher(self.head, listener=self.listener)
        self._pages = LRU(256)
        self._bodies = LRU(100_000, Body.weight, cache_bytes_from_env())
        self._views = LRU(32)
        self._checksums = LRU(256)
        self._context = LRU(64)  # (release point, lists) of a snapshot: immutable
        self.pages_built = 0  # snapshot pages this process built (not read back stored)
        # One thread builds the pages after one a replica asked for, one at a time.
        self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-ahead")
        self._ahead_pending: dict[Any, Future[None]] = {}
        self._ahead_lock = threading.Lock()
        self.prebuild = self.store_pages and os.environ.get("REGISTRY_SYNC_PREBUILD") != "0"
        # Complete change pages as the publish that completed them stored them
        # (registry.sync.stored_changes); ``REGISTRY_SYNC_STORED_CHANGES=0`` builds them on
        # request instead, as before them (a bench's baseline, or a suspected bad page).
        self.stored_changes = os.environ.get("REGISTRY_SYNC_STORED_CHANGES") != "0"
        self._prebuilt: tuple[str, int] | None = None  # the release last prebuilt
        # Line encodings other than JSON that replicas of every list asked this process
        # for: the walk of each later release builds their pages as well.
        self._encodings_asked: set[str] = set()
        # Followers' change pages and deltas come before the walk (see .followers).
        self.followers = FollowerActivity()

    def head(self) -> Head:
        """The head as committed now (a new release's snapshot starts being built)."""
        if self.store_pages:  # PostgreSQL
            head = read_head_committed(self.sessions.kw["bind"])
        else:
            with self.sessions() as session:
                head = read_head(session)
        self._prebuild(head)
        return head

    # --- a release's snapshot, before any replica asks ---

    def _prebuild(self, head: Head) -> None:
        """Build and store the whole snapshot of a release this process has not seen yet,
        for the subscription to every list in the default page size, on the build-ahead
        thread: the release's first replica then reads stored pages like the 50th. Only
        where pages are stored (PostgreSQL centres), and by one process of the centre at
        a time (an advisory lock); ``REGISTRY_SYNC_PREBUILD=0`` turns it off."""
        if not self.prebuild or head.release < 1:
            return
        with self._ahead_lock:
            if self._prebuilt == (head.epoch, head.release):
                return
            self._prebuilt = (head.epoch, head.release)
        self.followers.expect()  # the release's followers come first, then its walk
        bind = self.sessions.kw["bind"]
        self._walk_on(ReleaseWalk(bind, head.epoch, head.release,
                                  ["json", *sorted(self._encodings_asked)]))

    def _walk_on(self, walk: ReleaseWalk) -> None:
        """Queue the walk's next page: one page per turn, so that the pages replicas wait
        for are built between two of the walk's (and a process shutting down stops it)."""
        try:
            self._submit_ahead(self._walk_step, walk)
        except RuntimeError:  # the interpreter is shutting down
            walk.unlock()

    def _submit_ahead(self, work: Callable[..., None], *args: Any) -> Future[None]:
        """Queue ``work(*args)`` on the build-ahead thread, counted in ``PAGES_AHEAD``
        until it ends."""
        def counted() -> None:
            try:
                work(*args)
            finally:
                PAGES_AHEAD.dec()
        PAGES_AHEAD.inc()
        try:
            return self._ahead.submit(counted)
        except RuntimeError:  # the interpreter is shutting down: it never runs
            PAGES_AHEAD.dec()
            raise

    def _walk_step(self, walk: ReleaseWalk) -> None:
        try:
            if not walk.locked and not walk.lock():
                return  # another process of the centre is walking this release
            if self._prebuilt != (walk.epoch, walk.release):
                walk.unlock()  # a newer release came: its own walk has started
                return
            body = self._page_for_walk(walk.epoch, walk.release, walk.token, walk.lines)
            walk.token = None if body is None else json.loads(
                body.raw.split(b"\n", 1)[0]).get("next")
            more = bool(walk.token) or walk.next_encoding()
        except (EpochChanged, NotFound) as exc:  # a restore, or a release pruned meanwhile
            log.info("snapshot of release %s not built ahead: %s", walk.release, exc)
            more = False
        except Exception:  # a replica asking for a page gets the error, not this thread
            log.warning("snapshot of release %s not built ahead", walk.release,
                        exc_info=True)
            more = False
        if more:
            self._walk_on(walk)
        else:
            walk.unlock()

    def _page_for_walk(self, epoch: str, release: int, token: str | None,
                       lines: str) -> Body | None:
        """A page of the whole-registry snapshot: from memory, else loaded or built while
        marked pending, so that a replica asking for it meanwhile waits instead of
        building it too. ``None`` when a replica's build-ahead chain has it: that chain
        builds the rest, and it waits behind this walk on the same thread."""
        sub, limit = Subscription(), DEFAULT_SNAPSHOT_LIMIT
        memory_key = ("snapshot", epoch, release, sub, token, limit, lines)
        with self._ahead_lock:
            if memory_key in self._ahead_pending:
                return None
            body: Body | None = self._bodies.get(memory_key)
            if body is not None:
                return body
            mine: Future[None] = Future()
            self._ahead_pending[memory_key] = mine
        try:
            body, _built = self._load_or_build(epoch, release, sub, token, limit, lines,
                                               pause=self.followers.wait_quiet)
            self._bodies.put(memory_key, body)
            return body
        finally:
            with self._ahead_lock:
                self._ahead_pending.pop(memory_key, None)
            mine.set_result(None)

    def require_epoch(self, epoch: str) -> Head:
        """The head, or :class:`EpochChanged` when a replica names another epoch."""
        head = self.head()
        if epoch != head.epoch:
            raise EpochChanged(f"the feed's epoch is now {head.epoch}, not {epoch}: take a new "
                               "snapshot", head.epoch)
        return head

    # --- change pages ---

    def change_page(self, epoch: str, page: int, after: int | None = None,
                    head: Head | None = None, lines: str = "json"
                    ) -> tuple[ChangePage, Body, Head]:
        """Page ``page`` of the current epoch (only the records after ``after``, if given),
        from the cache when it is complete, and the head it was served at. ``head``: the
        head as just read (by the head watcher that woke a long poll), instead of reading
        it again. ``lines``: ``canonical`` sends the records' stored canonical texts."""
        with self.followers.serving() as served:
            if head is None or head.epoch != epoch:
                head = self.require_epoch(epoch)
            built, body = self._change_page(epoch, page, after, head, lines)
            served.idle = after is not None and built.last_seq <= after
            return built, body, head

    def _change_page(self, epoch: str, page: int, after: int | None, head: Head,
                     lines: str) -> tuple[ChangePage, Body]:
        size = self.page_size
        canonical = lines == "canonical"
        complete_key = (epoch, size, page, "complete", after, canonical)
        cached = self._pages.get(complete_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]

        first, last = page_bounds(page, size)
        # A whole complete page in canonical lines: the publish that completed it may have
        # stored it (registry.sync.stored_changes).
        whole = (self.stored_changes and canonical and last <= head.seq
                 and (after is None or after < first))

        def read(sessions: sessionmaker[Session]) -> tuple[ChangePage, Body] | None:
            with sessions() as session:
                if whole:
                    stored = stored_changes.load(session.connection(), head, size, page)
                    if stored is not None:
                        return stored[0], Body.gzipped(stored[1])
                built = build_change_page(session, head, size, page, after, canonical)
            if built is None:
                return None
            # gzip level 6 for every page: 9 saved 1–2% of a change page's bytes for 2.7
            # times the CPU (5 ms a page here), paid by the release's first follower.
            return built, Body(built.body, stored_changes.LEVEL)

        def make() -> tuple[ChangePage, Body] | None:
            return self.router.run(Need(seq=min(head.seq, last)), read)

        found = self._pages.get_or_make((epoch, size, page, head.seq, after, canonical),
                                        make)
        if found is None:
            raise NotFound(f"page {page} starts after the head (seq {head.seq})")
        if found[0].complete:
            self._pages.put(complete_key, found)
        return found  # type: ignore[no-any-return]

    def hashes(self, epoch: str, page: int) -> list[list[int | str]]:
        """Per-record hashes of a page (asked for only when a page fails to verify)."""
        head = self.require_epoch(epoch)
        if page * self.page_size >= max(head.seq, 1):
            # Also keeps the page's seqs within what the database's integers hold.
            raise NotFound(f"page {page} starts after the head (seq {head.seq})")

        def read(sessions: sessionmaker[Session]) -> list[list[int | str]]:
            with sessions() as session:
                return page_hashes(session, self.page_size, page)
        return self.router.run(Need(seq=min(head.seq, (page + 1) * self.page_size)), read)

    # --- snapshots, deltas and checksums at a release ---

    def _point_epoch(self, session: Session, epoch: str) -> Head:
        head = read_head(session)
        if epoch != head.epoch:
            raise EpochChanged(f"the feed's epoch is now {head.epoch}, not {epoch}: take a new "
                               "snapshot", head.epoch)
        return head

    def _point(self, session: Session, epoch: str, release: int) -> ReleasePoint:
        head = read_head(session)
        if epoch != head.epoch:
            raise EpochChanged(f"the feed's epoch is now {head.epoch}, not {epoch}: take a new "
                               "snapshot", head.epoch)
        if release > head.release or release < 0:
            raise NotFound(f"release {release} does not exist (the head is at release "
                           f"{head.release})")
        return release_point(session, release)

    def _view_getter(self, epoch: str, sub: Subscription
                     ) -> Callable[[Session, int, ListAt], ScopedView | None]:
        scope = sub.scope

        def view_of(session: Session, release: int, item: ListAt) -> ScopedView | None:
            if scope is None or item.key != scope.list_key:
                return None
            return self._views.get_or_make(  # type: ignore[no-any-return]
                (epoch, release, item.id, scope.code),
                lambda: compute_view(session, item.id, item.key, scope.code, release))
        return view_of

    def _checksum_getter(self, epoch: str, sub: Subscription
                         ) -> Callable[[Session, int, ListAt], ListChecksum]:
        view_of = self._view_getter(epoch, sub)

        def checksum_of(session: Session, release: int, item: ListAt) -> ListChecksum:
            view = view_of(session, release, item)
            code = view.code if view else None
            return self._checksums.get_or_make(  # type: ignore[no-any-return]
                (epoch, release, item.key, code),
                lambda: scoped_checksum(session, release, item, view) if view
                else checksum_at(session, release, item)
                or centre_checksums(session, release, [item.key])[item.key])
        return checksum_of

    def snapshot(self, epoch: str, release: int, sub: Subscription, token: str | None,
                 limit: int, lines: str = "json") -> Body:
        """One snapshot page: from memory, else as stored in the database, else built and
        stored (it never changes). A page that had to be built starts building the pages
        after it in the background, so the release's first replica finds them ready."""
        if lines != "json" and sub.is_full:
            self._encodings_asked.add(lines)  # the next release's walk builds these too
        memory_key = ("snapshot", epoch, release, sub, token, limit, lines)
        # Pending first, memory second: the thread building ahead puts a page in memory
        # before it stops being pending, so a page that is in neither is not being built.
        with self._ahead_lock:
            pending = self._ahead_pending.get(memory_key)
        if pending is not None:
            pending.result()  # being built ahead: wait for it rather than build it twice
            return self.snapshot(epoch, release, sub, token, limit, lines)
        body: Body | None = self._bodies.get(memory_key)
        if body is not None:
            SNAPSHOT_PAGES.labels("memory").inc()
            return body
        body, built = self._load_or_build(epoch, release, sub, token, limit, lines)
        self._bodies.put(memory_key, body)
        if built:
            self._build_ahead(epoch, release, sub, body, limit, lines)
        return body

    def _load_or_build(self, epoch: str, release: int, sub: Subscription, token: str | None,
                       limit: int, lines: str, pause: Callable[[], None] | None = None
                       ) -> tuple[Body, bool]:
        """A snapshot page, stored or built (``pause``: called before each block of it,
        by the walk, to let followers go first)."""
        key = stored_pages.page_key(epoch, release, sub, token, limit, lines)
        if self.store_pages:
            with self.sessions() as session:  # stored on the primary, read there
                found = stored_pages.load(session.connection(), key, epoch)
            if found is not None:
                SNAPSHOT_PAGES.labels("stored").inc()
                return Body.gzipped(found), False

        def build(sessions: sessionmaker[Session]) -> Body:
            with sessions() as session:
                self._point_epoch(session, epoch)  # a restore's new epoch refuses old pages
                point, lists = self._context.get_or_make(
                    (epoch, release, sub.lists),
                    lambda: (self._point(session, epoch, release),
                             subscribed_lists(session, release, sub)))
                view_of = self._view_getter(epoch, sub)
                if token is None and sub.scope is not None:
                    _require_scope_code(session, point.release, sub, view_of)
                return Body(build_snapshot_page(session, epoch, point, sub, token, limit,
                                                view_of, lists, lines, pause), 6)

        body = self.router.run(Need(release=release), build)
        SNAPSHOT_PAGES.labels("built").inc()
        self.pages_built += 1
        if self.store_pages:
            stored_pages.store(self.sessions, key, epoch, release, body.gz, token is None)
        return body, True

    def _build_ahead(self, epoch: str, release: int, sub: Subscription, body: Body,
                     limit: int, lines: str) -> None:
        """Build (and store) the page after ``body`` on the background thread."""
        following = json.loads(body.raw.split(b"\n", 1)[0]).get("next")
        if not following:
            return
        memory_key = ("snapshot", epoch, release, sub, following, limit, lines)
        with self._ahead_lock:
            if memory_key in self._ahead_pending:
                return
            self._ahead_pending[memory_key] = self._submit_ahead(
                self._ahead_one, memory_key, epoch, release, sub, following, limit, lines)

    def _ahead_one(self, memory_key: Any, epoch: str, release: int, sub: Subscription,
                   token: str, limit: int, lines: str) -> None:
        try:
            body, built = self._load_or_build(epoch, release, sub, token, limit, lines)
            if built:
                # Before this page can be read from memory or stops being pending: a
                # replica that got it then finds the next one pending, instead of building
                # it beside this thread.
                self._build_ahead(epoch, release, sub, body, limit, lines)
            self._bodies.put(memory_key, body)
        except Exception:  # a replica asking for the page gets the error, not this thread
            log.warning("snapshot page of release %s not built ahead", release,
                        exc_info=True)
        finally:
            with self._ahead_lock:
                self._ahead_pending.pop(memory_key, None)

    def delta(self, epoch: str, release: int, sub: Subscription,
              through: int | None = None) -> Body:
        """The delta for ``sub`` from the release before ``release``: of that release
        alone, or with ``through``, of the releases up to ``through`` that change a
        subscribed list (:func:`build_delta`; cached: it never changes)."""
        with self.followers.serving():
            return self._delta(epoch, release, sub, through)

    def _delta(self, epoch: str, release: int, sub: Subscription,
               through: int | None) -> Body:
        if release < 1:
            raise NotFound("deltas start at release 1")
        last = release if through is None else through

        def read(sessions: sessionmaker[Session]) -> Body:
            with sessions() as session:
                remember_reads(session)  # the same release points and lists, asked again
                self._point(session, epoch, last)  # the epoch, and ``through`` exists
                if sub.scope is not None:  # refused by name, as a snapshot refuses it
                    _require_scope_code(session, last, sub, self._view_getter(epoch, sub))
                return Body(build_delta(session, epoch, release, last, sub,
                                        self._view_getter(epoch, sub),
                                        self._checksum_getter(epoch, sub),
                                        self.span_records), 6)
        return self._bodies.get_or_make(  # type: ignore[no-any-return]
            ("delta", epoch, release, last, sub),
            lambda: self.router.run(Need(release=last), read))

    def checksums(self, epoch: str, release: int, sub: Subscription) -> dict[str, Any]:
        """Per-list checksums at ``release`` for ``sub``, with where the release ends."""
        def read(sessions: sessionmaker[Session]) -> tuple[ReleasePoint, dict[str, Any]]:
            with sessions() as session:
                point = self._point(session, epoch, release)
                checksum_of = self._checksum_getter(epoch, sub)
                lists = subscribed_lists(session, release, sub)
                return point, {item.key: checksum_of(session, release, item).as_dict()
                               for item in lists}

        point, sums = self.router.run(Need(release=release), read)
        return {"epoch": epoch, "release": release, "seq": point.seq, "hash": point.hash,
                "subscription": sub.as_dict(), "lists": sums}


def _require_scope_code(session: Session, release: int, sub: Subscription,
                        view_of: Callable[[Session, int, ListAt], ScopedView | None]) -> None:

    scope = sub.scope
    assert scope is not None
    items = [i for i in subscribed_lists(session, release, Subscription((scope.list_key,)))]
    view = view_of(session, release, items[0])
    if view is None or not any(code == scope.code for code, _ in view.key_ids):
        raise NotFound(f"the scope {scope} names no entry of '{scope.list_key}' at release "
                       f"{release}")
