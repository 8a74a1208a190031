"""A delta's session keeps the release points and list definitions it has looked up once
(registry.services.read_memo); other sessions look up every time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event

from registry.db import session_factory, transaction
from registry.services.actors import SYSTEM
from registry.services.checksums import lists_at
from registry.services.code_lists import define_lists
from registry.services.feed import read_head
from registry.services.read_memo import remember_reads
from registry.sync.deltas import build_delta
from registry.sync.protocol import parse_subscription
from registry.sync.server import SyncServer
from tests.conftest import Database
from tests.factories import publish, unit

ADMIN_UNITS = parse_subscription("admin-units", None)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent on ``engine`` meanwhile."""
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _two_releases(database: Database) -> int:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        publish(session, [unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
    with transaction(sessions) as session:
        return publish(session, [{"op": "rename", "list": "admin-units", "code": "01",
                                  "name": "Hà Nội"}])


def test_a_delta_looks_up_its_release_point_and_the_lists_once(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_PREBUILD", "0")  # no walk on the same engine
    release = _two_releases(database)
    sessions = session_factory(database.engine)
    server = SyncServer(sessions)
    epoch = server.head().epoch
    with statements(database.engine) as sent:
        server.delta(epoch, release, ADMIN_UNITS, through=release)
    points = [s for s in sent if s.startswith("SELECT releases.last_seq")]
    lists = [s for s in sent if "FROM code_lists" in s]
    assert (len(points), len(lists)) == (1, 1), sent
    # The same bytes as a session that looks everything up again.
    with sessions() as session:
        plain = build_delta(session, epoch, release, release, ADMIN_UNITS,
                            server._view_getter(epoch, ADMIN_UNITS),
                            server._checksum_getter(epoch, ADMIN_UNITS))
    assert server.delta(epoch, release, ADMIN_UNITS, through=release).raw == plain


def test_a_session_that_does_not_remember_sees_what_it_changed(database: Database) -> None:
    _two_releases(database)
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        release = read_head(session).release
        before = [item.key for item in lists_at(session, release + 1)]
        define_lists(session, SYSTEM, [{
            "key": "extra", "name": "Danh mục thêm", "code_pattern": "^\\d{2}$",
            "levels": [{"key": "item", "types": ["Mục"], "parents": []}]}])
        session.flush()
        after = [item.key for item in lists_at(session, release + 1)]
        assert "extra" not in before and "extra" in after
        session.rollback()
    with sessions() as session:
        remember_reads(session)
        first = lists_at(session, 10**6)
        with statements(database.engine) as sent:
            assert lists_at(session, 10**6) == first
        assert not sent
