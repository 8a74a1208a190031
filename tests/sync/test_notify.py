"""On a PostgreSQL centre the publisher's NOTIFY wakes long polls at once; the head poll
is only a safety net (issue: sync at the speed of logical replication)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from registry.db import make_engine, session_factory, transaction
from registry.services.feed import CHANNEL
from registry.sync.listener import FeedListener
from registry.sync.server import SyncServer
from registry.sync.watcher import HeadWatcher
from tests.conftest import Database, Templates, run_async
from tests.factories import hanoi, publish, unit

SLOW_POLL = 30.0  # seconds: a wake-up sooner than this came from a notification


async def _until(check: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _setup(database: Database) -> tuple[SyncServer, HeadWatcher, FeedListener]:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    server = SyncServer(sessions)
    listener = FeedListener.for_engine(database.engine)
    assert listener is not None
    return server, HeadWatcher(server.head, interval=SLOW_POLL, listener=listener), listener


async def _waiting(server: SyncServer, watcher: HeadWatcher,
                   listener: FeedListener) -> tuple[int, asyncio.Task[None]]:
    """A long poll waiting beyond the current head once the listener is connected: the
    head's seq and the poll."""
    head = server.head()
    waiter = asyncio.create_task(watcher.wait_beyond(head.seq, head.epoch, 120))
    await _until(listener.connected.is_set)
    return head.seq, waiter


def _publish(database: Database, code: str) -> None:
    with transaction(session_factory(database.engine)) as session:
        publish(session, [unit(code, f"Quận {code}", "Quận", "01")])


def test_a_publish_wakes_a_waiting_long_poll_at_once(pg_database: Database) -> None:
    server, watcher, listener = _setup(pg_database)

    async def scenario() -> float:
        seq, waiter = await _waiting(server, watcher, listener)
        await asyncio.sleep(0.2)
        assert not waiter.done()
        started = time.monotonic()
        await asyncio.to_thread(_publish, pg_database, "003")
        await waiter
        assert watcher.head is not None and watcher.head.seq > seq
        return time.monotonic() - started

    try:
        assert run_async(scenario()) < SLOW_POLL / 3
        assert listener.notifications == 1
    finally:
        listener.stop()


def test_a_rolled_back_publish_announces_nothing(pg_database: Database) -> None:
    server, watcher, listener = _setup(pg_database)

    async def scenario() -> None:
        _, waiter = await _waiting(server, watcher, listener)

        def refused() -> None:
            sessions = session_factory(pg_database.engine)
            with pytest.raises(RuntimeError), transaction(sessions) as session:
                publish(session, [unit("003", "Quận 003", "Quận", "01")])
                raise RuntimeError("the steward's transaction fails after publishing")

        await asyncio.to_thread(refused)
        await asyncio.sleep(0.5)
        assert not waiter.done() and listener.notifications == 0
        await asyncio.to_thread(_publish, pg_database, "004")
        await waiter
        # Delivered in commit order: had the rollback sent one, it would be counted first.
        await _until(lambda: listener.notifications >= 1)
        await asyncio.sleep(0.3)
        assert listener.notifications == 1

    try:
        run_async(scenario())
    finally:
        listener.stop()


def test_the_listener_reconnects_after_its_connection_is_killed(pg_database: Database) -> None:
    server, watcher, listener = _setup(pg_database)

    async def scenario() -> None:
        _, waiter = await _waiting(server, watcher, listener)
        with pg_database.engine.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = :q"),
                {"q": f"LISTEN {CHANNEL}"}).scalar_one()
        assert killed == 1
        await _until(lambda: listener.connections == 2)
        started = time.monotonic()
        await asyncio.to_thread(_publish, pg_database, "003")
        await waiter
        assert time.monotonic() - started < SLOW_POLL / 3

    try:
        run_async(scenario())
    finally:
        listener.stop()


def test_sqlite_has_no_listener_and_keeps_polling(templates: Templates) -> None:
    engine = make_engine(templates.fresh_url("sqlite"))
    database = Database("sqlite", str(engine.url), engine)
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    server = SyncServer(sessions)
    assert FeedListener.for_engine(database.engine) is None and server.listener is None
    watcher = HeadWatcher(server.head, interval=0.05)

    async def scenario() -> None:
        head = server.head()
        waiter = asyncio.create_task(watcher.wait_beyond(head.seq, head.epoch, 60))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(_publish, database, "003")
        await asyncio.wait_for(waiter, 30)

    try:
        run_async(scenario())
    finally:
        engine.dispose()


def test_listening_can_be_turned_off_for_a_pooler(pg_database: Database,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_LISTEN", "0")
    assert FeedListener.for_engine(pg_database.engine) is None
    assert SyncServer(session_factory(pg_database.engine)).listener is None
    monkeypatch.setenv("REGISTRY_SYNC_LISTEN", "1")
    assert SyncServer(session_factory(pg_database.engine)).listener is not None
