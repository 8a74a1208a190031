"""Statements run on psycopg directly answer as SQLAlchemy runs them (PostgreSQL).

The hot reads take the direct way on an autocommit connection and SQLAlchemy's way in a
session. Names full of what parameters and LIKE patterns must get right (quotes,
backslashes, LIKE's wildcards, Vietnamese) are searched both ways.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError

from registry.db import session_factory, transaction
from registry.models import EntryVersion
from registry.services import graph_reads, raw_reads
from registry.services.graph_reads import Filters
from tests.conftest import Database
from tests.factories import publish, unit

NAMES = ["Xã O'Brien", "Xã Back\\slash", "Xã 100% Mới", "Xã _Gạch_", "Xã Hòa Bình",
         "Phường Ba Đình", "Xã ''Hai''", "Xã Tân\\%_Lập"]
TERMS = ["'", "\\", "%", "_", "100%", "o'b", "''", "ba đình", "hoa binh", "tân\\%_",
         "x", "'; DROP TABLE entry_versions; --"]
DAY = date(2025, 6, 1)


def test_search_directly_and_through_sqlalchemy(pg_database: Database) -> None:
    sessions = session_factory(pg_database.engine)
    with transaction(sessions) as session:
        publish(session, [unit("79", "Tỉnh Thử", "Tỉnh"),
                          *[unit(f"79{i:03d}", name, "Xã", "79")
                            for i, name in enumerate(NAMES)]])
    seen: list[str] = []
    stop = raw_reads.listen(seen.append)
    try:
        with pg_database.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT") as direct, sessions() as session:
            for term in TERMS:
                for first in (1, 100):
                    filters = Filters(search=term)
                    got = graph_reads.page_entries(direct, "admin-units", filters, DAY, None,
                                                   first)
                    want = graph_reads.page_entries(session, "admin-units", filters, DAY,
                                                    None, first)
                    assert got == want, term
            assert graph_reads.page_entries(
                direct, "admin-units", Filters(search="'"), DAY, None, 100).items
    finally:
        stop()
    assert len(seen) >= len(TERMS) * 2  # the direct way ran, each search once


def test_a_database_error_is_sqlalchemys(pg_database: Database) -> None:
    with pg_database.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT") as direct, pytest.raises(DBAPIError):
        graph_reads.page_entries(direct, "admin-units", Filters(), date(1, 1, 1), 2**40,
                                 10)


def test_many_rows_run_on_the_driver_inside_a_transaction(database: Database) -> None:
    """A change page's read: on PostgreSQL on the driver, in the session's own transaction
    (it sees what the transaction wrote); elsewhere through SQLAlchemy; the same tuples."""
    statement = (select(EntryVersion.code, EntryVersion.name, EntryVersion.valid_from)
                 .where(EntryVersion.code >= bindparam("low")).order_by(EntryVersion.code))
    sessions = session_factory(database.engine)
    seen: list[str] = []
    stop = raw_reads.listen(seen.append)
    try:
        with sessions() as session:
            publish(session, [unit("79", "Tỉnh Thử", "Tỉnh"),
                              *[unit(f"79{i:03d}", name, "Xã", "79")
                                for i, name in enumerate(NAMES)]])
            session.flush()  # written, not committed
            got = raw_reads.many_rows(session.connection(), statement, {"low": "79000"})
            want = [tuple(row) for row in session.connection().execute(statement,
                                                                         {"low": "79000"})]
            session.rollback()
    finally:
        stop()
    assert [tuple(row) for row in got] == want and len(want) == len(NAMES)
    assert want[0][1] == NAMES[0] and want[0][2] == date(2025, 1, 1)
    assert len(seen) == (1 if database.backend == "postgresql" else 0)
