"""Followers first: the walk of a new release's snapshot waits while followers are served,
in blocks, never for longer than a bound (issue: sync at the speed of logical replication)."""

from __future__ import annotations

import json
import time

import pytest

from registry.db import session_factory, transaction
from registry.sync import server as server_module
from registry.sync import snapshot as snapshot_module
from registry.sync.followers import FollowerActivity
from registry.sync.protocol import Subscription
from registry.sync.server import SyncServer
from tests.conftest import Database
from tests.factories import publish, unit
from tests.sync.test_stored_snapshot import _centre, _idle, _walk

LIMIT = 3


@pytest.fixture
def database(pg_database: Database) -> Database:
    """Only PostgreSQL centres walk a release ahead of its replicas."""
    return pg_database


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of three lines, walked in blocks of two, so that a test centre spans both."""
    monkeypatch.setattr("registry.sync.server.DEFAULT_SNAPSHOT_LIMIT", LIMIT)
    monkeypatch.setattr(snapshot_module, "PAUSED_BLOCK", 2)


# --- the activity itself ---

def test_followers_are_busy_while_served_and_for_the_quiet_time_after() -> None:
    activity = FollowerActivity(quiet=0.5, most=5)
    assert not activity.busy()
    with activity.serving():
        assert activity.busy()
        with activity.serving():  # two at once
            pass
        assert activity.busy()  # the other is still being served
    assert activity.busy()  # just ended: the quiet time has not passed
    time.sleep(0.6)
    assert not activity.busy()


def test_an_answer_with_nothing_new_does_not_start_a_quiet_time() -> None:
    activity = FollowerActivity(quiet=5, most=5)
    with activity.serving() as served:
        assert activity.busy()  # in progress all the same
        served.idle = True  # a long poll that timed out
    assert not activity.busy()


def test_a_request_that_fails_still_ends_its_serving() -> None:
    activity = FollowerActivity(quiet=0, most=5)
    with pytest.raises(RuntimeError), activity.serving():
        raise RuntimeError("the page could not be built")
    assert not activity.busy()


def test_waiting_for_quiet_returns_at_once_when_idle_and_after_the_bound_when_not() -> None:
    # Lower bounds are what the behaviour guarantees; the upper ones only tell "returned"
    # from "waited for the bound", ten times apart, so a slow machine does not fail them.
    activity = FollowerActivity(quiet=0.3, most=3)
    activity.wait_quiet()
    assert activity.waited < 1.5  # idle: no wait for the bound
    with activity.serving():
        started = time.monotonic()
        activity.wait_quiet()  # held for ever: the bound lets the walk go on
        assert time.monotonic() - started >= 3
    started = time.monotonic()
    activity.wait_quiet()  # ended now: waits out the quiet time, not the bound
    assert 0.3 <= time.monotonic() - started < 1.5


# --- pages built in blocks ---

def test_a_page_built_in_blocks_is_the_same_page(database: Database,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []  # the lines each statement of versions was asked for
    block = snapshot_module._pg_version_block
    monkeypatch.setattr(snapshot_module, "_pg_version_block", lambda *a, **k: (
        asked.append(a[4]), block(*a, **k))[1])
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    server = SyncServer(sessions)
    server.prebuild = False
    sub = Subscription()
    calls: list[int] = []
    for lines in ("json", "copy"):
        for limit in (LIMIT, 5, 100):
            token: str | None = None
            pages = records = 0
            calls.clear()
            while True:
                with sessions() as session:
                    point = server._point(session, epoch, release)
                    view_of = server._view_getter(epoch, sub)
                    whole = snapshot_module.build_snapshot_page(
                        session, epoch, point, sub, token, limit, view_of, lines=lines)
                    asked.clear()
                    blocks = snapshot_module.build_snapshot_page(
                        session, epoch, point, sub, token, limit, view_of, lines=lines,
                        pause=lambda: calls.append(1))
                assert blocks == whole, (lines, limit, token)
                assert all(n <= 2 for n in asked), asked
                header = json.loads(whole.split(b"\n", 1)[0])
                pages, records = pages + 1, records + header["count"]
                token = header["next"]
                if token is None:
                    break
            assert pages > 1 or limit == 100
            # One pause as each page starts, and one before each block of two lines.
            assert len(calls) >= pages + records // 2 - 3  # the list definitions: no block


# --- the server ---

def test_change_pages_and_deltas_are_served_as_followers(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    epoch, release = _centre(database)
    server = SyncServer(session_factory(database.engine))
    server.prebuild = False
    seen: dict[str, bool] = {}
    build_page, build_delta = server_module.build_change_page, server_module.build_delta

    def page(*args: object, **kwargs: object) -> object:
        seen["page"] = server.followers.busy()
        return build_page(*args, **kwargs)  # type: ignore[arg-type]

    def delta(*args: object, **kwargs: object) -> object:
        seen["delta"] = server.followers.busy()
        return build_delta(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(server_module, "build_change_page", page)
    monkeypatch.setattr(server_module, "build_delta", delta)
    server.followers = FollowerActivity(quiet=0, most=5)
    server.change_page(epoch, 0)
    server.delta(epoch, release, Subscription(lists=("admin-units",)))
    assert seen == {"page": True, "delta": True}
    assert not server.followers.busy()  # both ended
    # With a quiet time: records served start one; a follower told "nothing new" does not.
    server.followers = FollowerActivity(quiet=30, most=5)
    head = server.head()
    server.change_page(epoch, 0, after=head.seq)
    assert not server.followers.busy()
    server.change_page(epoch, 0, after=head.seq - 1)
    assert server.followers.busy()


def test_the_walk_of_a_new_release_waits_while_a_follower_is_served(
        database: Database) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    expected = _walk(SyncServer(sessions), epoch, release, limit=LIMIT)
    with transaction(sessions) as session:
        later = publish(session, [unit("004", "Quận Long Biên", "Quận", "01")])
    server = SyncServer(sessions)
    server.followers = FollowerActivity(quiet=0.1, most=30)
    with server.followers.serving():  # a follower's change page is being built
        assert server.head().release == later  # the walk of ``later`` is queued
        time.sleep(0.6)
        assert server.pages_built == 0  # it has not built a page meanwhile
    _idle(server)
    pages = _walk(SyncServer(sessions), epoch, later, limit=LIMIT)
    assert len(pages) >= len(expected) and server.pages_built == len(pages)
    assert server.followers.waited > 0  # it did wait (how long depends on when it started)


def test_a_new_release_lets_its_followers_come_before_its_walk(database: Database) -> None:
    epoch, release = _centre(database)
    server = SyncServer(session_factory(database.engine))
    server.followers = FollowerActivity(quiet=2, most=30)
    assert server.head().release == release  # no follower has asked anything yet
    time.sleep(0.4)
    assert server.pages_built == 0 and server.followers.busy()
    _idle(server)
    assert server.pages_built == len(_walk(SyncServer(session_factory(database.engine)),
                                           epoch, release, limit=LIMIT))
    assert server.followers.waited > 0  # it did wait (how long depends on when it started)


def test_followers_that_never_stop_do_not_stop_the_walk(database: Database) -> None:
    epoch, release = _centre(database)
    sessions = session_factory(database.engine)
    server = SyncServer(sessions)
    server.followers = FollowerActivity(quiet=0.1, most=0.05)
    with server.followers.serving():
        server.head()
        _idle(server)
        assert server.pages_built == len(_walk(SyncServer(sessions), epoch, release,
                                               limit=LIMIT))
