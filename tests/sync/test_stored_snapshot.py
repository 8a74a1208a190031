"""Snapshot pages are built once per release and stored: later replicas, other server
processes and restarted servers read them back instead of querying again (issue: sync at
the speed of logical replication)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from registry.db import make_engine, session_factory, transaction
from registry.errors import NotFound, ValidationError
from registry.models import SnapshotPage
from registry.services.feed import new_epoch, read_head
from registry.sync import stored_pages
from registry.sync.errors import EpochChanged
from registry.sync.metrics import PAGES_AHEAD, SNAPSHOT_PAGES
from registry.sync.prebuild import ReleaseWalk, lock_key
from registry.sync.protocol import Scope, Subscription
from registry.sync.server import LRU, Body, SyncServer, cache_bytes_from_env
from tests.conftest import Database, Templates
from tests.factories import hanoi, publish, unit

ALL = Subscription()


@pytest.fixture
def database(pg_database: Database) -> Database:
    """Pages are stored by PostgreSQL centres (a SQLite centre keeps them in memory: see
    the last test)."""
    return pg_database


def _walk(server: SyncServer, epoch: str, release: int, sub: Subscription = ALL,
          limit: int = 3) -> list[bytes]:
    """Every page of a snapshot, as served (plain bytes)."""
    pages, token = [], None
    while True:
        raw = server.snapshot(epoch, release, sub, token, limit).raw
        pages.append(raw)
        token = json.loads(raw.split(b"\n", 1)[0])["next"]
        if token is None:
            return pages


def _stored(database: Database) -> list[tuple[int, str]]:
    with session_factory(database.engine)() as session:
        return [(r, e) for r, e in session.execute(
            select(SnapshotPage.release_id, SnapshotPage.epoch).order_by(SnapshotPage.key))]


def _centre(database: Database) -> tuple[str, int]:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        hanoi(session)
        release = publish(session, [unit("003", "Quận Tây Hồ", "Quận", "01")])
    with sessions() as session:
        return read_head(session).epoch, release


def _count(source: str) -> float:
    return SNAPSHOT_PAGES.labels(source)._value.get()  # type: ignore[attr-defined, no-any-return]


def test_a_second_server_serves_the_stored_pages_without_building(database: Database) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    first = SyncServer(sessions)
    pages = _walk(first, epoch, release)
    assert len(pages) >= 3 and first.pages_built == len(pages)
    assert len(_stored(database)) == len(pages)

    # Another process of the centre, or the same one restarted: an empty memory cache.
    stored_before = _count("stored")
    second = SyncServer(sessions)
    assert _walk(second, epoch, release) == pages
    assert second.pages_built == 0
    assert _count("stored") - stored_before == len(pages)
    # Its own memory serves the next replica.
    memory_before = _count("memory")
    assert _walk(second, epoch, release) == pages
    assert _count("memory") - memory_before == len(pages)
    assert len(_stored(database)) == len(pages)


def test_each_subscription_and_page_size_has_its_own_pages(database: Database) -> None:
    epoch, release = _centre(database)
    server = SyncServer(session_factory(database.engine))
    everything = _walk(server, epoch, release, limit=4)
    scoped = _walk(server, epoch, release, Subscription(("admin-units",),
                                                         Scope("admin-units", "002")), limit=4)
    bigger = _walk(server, epoch, release, limit=50)
    assert len(bigger) == 1 and len(everything) > 1
    assert everything != scoped
    fresh = SyncServer(session_factory(database.engine))
    assert _walk(fresh, epoch, release, limit=4) == everything
    assert _walk(fresh, epoch, release, Subscription(("admin-units",),
                                                     Scope("admin-units", "002")),
                 limit=4) == scoped
    assert _walk(fresh, epoch, release, limit=50) == bigger
    assert fresh.pages_built == 0


def test_a_refused_request_stores_nothing(database: Database) -> None:
    epoch, release = _centre(database)
    server = SyncServer(session_factory(database.engine))
    with pytest.raises(NotFound):
        server.snapshot(epoch, release + 1, ALL, None, 10)
    with pytest.raises(ValidationError):
        server.snapshot(epoch, release, ALL, "Zm9yZ2Vk", 10)
    with pytest.raises(NotFound):
        server.snapshot(epoch, release, Subscription(("admin-units",),
                                                     Scope("admin-units", "99")), None, 10)
    with pytest.raises(NotFound):
        server.snapshot(epoch, release, Subscription(("no-such-list",)), None, 10)
    with pytest.raises(EpochChanged):
        server.snapshot("0" * 32, release, ALL, None, 10)
    assert _stored(database) == [] and server.pages_built == 0


def test_a_new_epoch_refuses_the_stored_pages_of_the_old_one(database: Database) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    pages = _walk(SyncServer(sessions), epoch, release)
    with transaction(sessions) as session:
        _, head = new_epoch(session)  # a restore from backup
    server = SyncServer(sessions)
    with pytest.raises(EpochChanged):
        server.snapshot(epoch, release, ALL, None, 3)
    # The new epoch's snapshot is built again (its header names the new epoch) and the
    # old epoch's pages are dropped when its first page is stored.
    renewed = _walk(server, head.epoch, release)
    assert len(renewed) == len(pages) and renewed != pages
    assert json.loads(renewed[0].split(b"\n", 1)[0])["epoch"] == head.epoch
    assert {e for _, e in _stored(database)} == {head.epoch}


def test_pages_of_releases_before_the_previous_one_are_dropped(database: Database) -> None:
    epoch, first = _centre(database)
    sessions = session_factory(database.engine)
    server = SyncServer(sessions)
    _walk(server, epoch, first)
    with transaction(sessions) as session:
        second = publish(session, [unit("004", "Quận Long Biên", "Quận", "01")])
    _walk(server, epoch, second)
    assert {r for r, _ in _stored(database)} == {first, second}  # the previous one stays
    with transaction(sessions) as session:
        third = publish(session, [unit("005", "Quận Cầu Giấy", "Quận", "01")])
    _walk(server, epoch, third)
    assert {r for r, _ in _stored(database)} == {second, third}
    # An older release can still be bootstrapped: its pages are built again.
    fresh = SyncServer(sessions)
    assert fresh.pages_built == 0
    pages = _walk(fresh, epoch, first)
    assert fresh.pages_built == len(pages)


def test_a_page_that_cannot_be_stored_is_served_and_logged(
        database: Database, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    expected = _walk(SyncServer(session_factory(database.engine)), epoch, release)
    with transaction(sessions) as session:
        session.execute(SnapshotPage.__table__.delete())

    def locked(*_: Any, **__: Any) -> None:
        raise OperationalError("INSERT INTO snapshot_pages", {}, Exception("database is locked"))

    monkeypatch.setattr(stored_pages, "transaction", locked)
    server = SyncServer(sessions)
    with caplog.at_level(logging.WARNING, logger="registry.sync"):
        assert _walk(server, epoch, release) == expected
    assert "not stored (it will be built again): database is locked" in caplog.text
    assert _stored(database) == []


def test_two_servers_building_the_same_page_store_it_once(database: Database) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    one, other = SyncServer(sessions), SyncServer(sessions)
    key = stored_pages.page_key(epoch, release, ALL, None, 3)
    first = one.snapshot(epoch, release, ALL, None, 3)
    # The other process built the same page before it saw the stored one.
    assert not stored_pages.store(sessions, key, epoch, release, first.gz, True)
    assert other.snapshot(epoch, release, ALL, None, 3).raw == first.raw
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SnapshotPage)
                              .where(SnapshotPage.key == key)) == 1


def test_the_memory_cache_is_bounded_by_bytes_and_keeps_a_whole_snapshot() -> None:
    cache = LRU(1000, Body.weight, budget=250)
    for n in range(4):
        cache.put(n, Body(b"x" * 100))
    assert [cache.get(n) is not None for n in range(4)] == [False, False, True, True]
    # A body weighs what it held when it was put, even if it is compressed later.
    body = Body(b"y" * 100)
    cache.put("y", body)
    assert len(body.gz) < 100
    cache.put("z", Body(b"z" * 100))
    assert cache.get("y") is not None and cache.get("z") is not None
    assert cache.get(3) is None
    # One value larger than the budget is still kept (alone), not refused.
    cache.put("big", Body(b"b" * 1000))
    assert cache.get("big") is not None and cache.get("z") is None


def test_the_memory_budget_is_set_in_megabytes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_bytes_from_env() == 64 << 20
    monkeypatch.setenv("REGISTRY_SYNC_CACHE_MB", "8")
    assert cache_bytes_from_env() == 8 << 20


def test_the_first_page_built_starts_building_the_rest_ahead(database: Database) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    expected = _walk(SyncServer(sessions), epoch, release)
    with transaction(sessions) as session:
        session.execute(SnapshotPage.__table__.delete())
    server = SyncServer(sessions)
    assert server.snapshot(epoch, release, ALL, None, 3).raw == expected[0]
    deadline = time.monotonic() + 30
    while len(_stored(database)) < len(expected):  # the background thread's work
        assert time.monotonic() < deadline, _stored(database)
        time.sleep(0.05)
    assert server.pages_built == len(expected)  # each page built once
    # The rest come from memory (or the page being built), none built again.
    assert _walk(server, epoch, release) == expected
    assert server.pages_built == len(expected)
    assert SyncServer(sessions).pages_built == 0


def test_a_sqlite_centre_keeps_its_pages_in_memory_and_writes_nothing(
        templates: Templates) -> None:
    engine = make_engine(templates.fresh_url("sqlite"))
    try:
        epoch, release = _centre(Database("sqlite", str(engine.url), engine))
        server = SyncServer(session_factory(engine))
        assert not server.store_pages
        pages = _walk(server, epoch, release)
        assert len(pages) >= 3 and server.pages_built == len(pages)
        with session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(SnapshotPage)) == 0
        assert _walk(server, epoch, release) == pages  # from memory
        assert server.pages_built == len(pages)
    finally:
        engine.dispose()


def _idle(server: SyncServer, turns: int = 40) -> None:
    """Wait for the work on the server's build-ahead thread (one thread), over ``turns``
    turns: a walk and a build-ahead chain queue their next page at the end of each."""
    for _ in range(turns):
        server._ahead.submit(lambda: None).result(timeout=20)


@pytest.fixture
def small_default_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    """The default page size, made small enough for a test centre to span pages."""
    monkeypatch.setattr("registry.sync.server.DEFAULT_SNAPSHOT_LIMIT", 3)
    return 3


def test_a_new_release_is_built_and_stored_before_its_first_replica_asks(
        database: Database, small_default_pages: int, monkeypatch: pytest.MonkeyPatch) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    server = SyncServer(sessions)
    assert server.head().release == release  # a replica's first question
    _idle(server)
    expected = _walk(SyncServer(sessions), epoch, release, limit=small_default_pages)
    assert len(expected) >= 3
    assert server.pages_built == len(expected)
    assert sorted(_stored(database)) == [(release, epoch)] * len(expected)
    # The first replica reads every page without building one, here and on any process.
    assert _walk(server, epoch, release, limit=small_default_pages) == expected
    assert server.pages_built == len(expected)
    steps: list[object] = []
    walk_step = server._walk_step
    monkeypatch.setattr(server, "_walk_step", lambda walk: steps.append(walk) or walk_step(walk))
    server.head()  # a release already built is not walked again
    _idle(server)
    assert steps == [] and server.pages_built == len(expected)
    # The next release is built as soon as a head shows it.
    with transaction(sessions) as session:
        later = publish(session, [unit("004", "Quận Long Biên", "Quận", "01")])
    assert server.head().release == later
    _idle(server)
    assert {r for r, _ in _stored(database)} == {release, later}
    assert server.pages_built == len(expected) + len(
        _walk(SyncServer(sessions), epoch, later, limit=small_default_pages))


def test_one_process_of_the_centre_builds_a_release_ahead(
        database: Database, small_default_pages: int) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
        # Another process of the centre is building this release.
        assert other.scalar(select(func.pg_try_advisory_lock(lock_key(epoch, release))))
        server = SyncServer(sessions)
        server.head()
        _idle(server)
        assert server.pages_built == 0 and _stored(database) == []
        other.scalar(select(func.pg_advisory_unlock(lock_key(epoch, release))))
    fresh = SyncServer(sessions)
    fresh.head()
    _idle(fresh)
    assert fresh.pages_built >= 3


def test_building_ahead_of_replicas_can_be_turned_off(
        database: Database, small_default_pages: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _centre(database)
    monkeypatch.setenv("REGISTRY_SYNC_PREBUILD", "0")
    server = SyncServer(session_factory(database.engine))
    server.head()
    _idle(server)
    assert server.pages_built == 0 and _stored(database) == []


def test_a_sqlite_centre_builds_nothing_ahead(templates: Templates, small_default_pages: int,
                                              caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(templates.fresh_url("sqlite"))
    try:
        _centre(Database("sqlite", str(engine.url), engine))
        server = SyncServer(session_factory(engine))
        assert not server.prebuild
        with caplog.at_level(logging.INFO, logger="registry.sync"):
            server.head()
            _idle(server)
        assert server.pages_built == 0 and "ahead" not in caplog.text
    finally:
        engine.dispose()


def test_a_replica_that_asked_first_and_the_walk_ahead_share_the_work(
        database: Database, small_default_pages: int) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    expected = _walk(SyncServer(sessions), epoch, release, limit=small_default_pages)
    with transaction(sessions) as session:
        session.execute(SnapshotPage.__table__.delete())
    server = SyncServer(sessions)
    busy = threading.Event()
    server._ahead.submit(busy.wait, 20)  # the build-ahead thread is busy for a moment
    server.head()  # the walk of the release waits behind it
    try:
        # A replica asks for the first page meanwhile: it builds it and queues the building
        # of the second behind the walk, which must leave that page (and the rest) to it.
        assert server.snapshot(epoch, release, ALL, None,
                               small_default_pages).raw == expected[0]
        busy.set()
        _idle(server)
        assert server._ahead_pending == {}
    finally:  # a thread waiting on a page for ever would keep the test run from ending
        busy.set()
        for pending in list(server._ahead_pending.values()):
            if not pending.done():
                pending.set_result(None)
    assert sorted(_stored(database)) == [(release, epoch)] * len(expected)
    assert server.pages_built == len(expected)  # none built twice


def test_the_pages_ahead_gauge_counts_the_work_queued_until_it_ends(
        database: Database, small_default_pages: int) -> None:
    epoch, release = _centre(database)
    server = SyncServer(session_factory(database.engine))
    ahead = PAGES_AHEAD._value.get  # type: ignore[attr-defined]
    start = ahead()
    busy = threading.Event()
    server._submit_ahead(busy.wait, 20)
    assert ahead() == start + 1
    try:
        server.head()  # the release's walk queues its first page behind the busy one
        assert ahead() == start + 2
    finally:
        busy.set()
    _idle(server)
    assert ahead() == start  # the whole walk ran, one page at a time, and was counted out
    assert server.pages_built > 1
    assert _stored(database) == [(release, epoch)] * server.pages_built


def test_a_walk_through_pages_already_in_memory_leaves_none_pending(
        database: Database, small_default_pages: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    epoch, release = _centre(database)
    server = SyncServer(session_factory(database.engine))
    monkeypatch.setattr(server, "prebuild", False)
    expected = _walk(server, epoch, release, limit=small_default_pages)
    _idle(server)
    monkeypatch.setattr(server, "prebuild", True)
    built = server.pages_built
    server.head()
    _idle(server)
    assert server._ahead_pending == {} and server.pages_built == built
    found: list[list[bytes]] = []  # a page left pending would block the replica for ever
    replica = threading.Thread(target=lambda: found.append(
        _walk(server, epoch, release, ALL, small_default_pages)), daemon=True)
    replica.start()
    replica.join(timeout=20)
    assert found == [expected]


def test_a_walk_lock_that_cannot_be_given_back_closes_its_connection(
        database: Database, caplog: pytest.LogCaptureFixture) -> None:
    walk = ReleaseWalk(database.engine, "e", 7)
    assert walk.lock() and walk.locked
    other = ReleaseWalk(database.engine, "e", 7)
    assert not other.lock()  # held: another process skips the walk
    assert walk._lock is not None
    backend = walk._lock.scalar(select(func.pg_backend_pid()))
    with database.engine.connect() as admin:  # the lock's connection is cut under it
        admin.scalar(select(func.pg_terminate_backend(backend)))
    with caplog.at_level(logging.WARNING, logger="registry.sync"):
        walk.unlock()
    assert not walk.locked and "was not given back" in caplog.text
    assert other.lock()  # the lock went with its connection; it is not left in the pool
    other.unlock()
    with database.engine.connect() as conn:  # and no pooled connection still holds it
        assert conn.scalar(select(func.count()).select_from(text("pg_locks")).where(
            text("locktype = 'advisory' AND database = "
                 "(SELECT oid FROM pg_database WHERE datname = current_database())"))) == 0
