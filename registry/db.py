"""Engines and sessions. The edge (CLI command, request, sync job) owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Connection, Engine, Table, create_engine, event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


# Plain backend names get the drivers the registry installs, so users need not know them.
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
            "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}


def normalise_url(url: str) -> str:
    """Pick psycopg 3 and PyMySQL for plain ``postgresql://``, ``mysql://`` and ``mariadb://``."""
    parsed = make_url(url)
    if parsed.drivername in _DRIVERS:
        return parsed.set(drivername=_DRIVERS[parsed.drivername]).render_as_string(
            hide_password=False)
    return url


def shown_url(url: str) -> str:
    """``url`` as it may be printed: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets real transactions, WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    if not is_sqlite(url):
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
        # Batch executemany INSERTs into multi-row VALUES, as SQLAlchemy does for psycopg2;
        # psycopg 3's pipelined executemany still runs one statement per row on the server.
        engine.dialect.use_insertmanyvalues_wo_returning = True
        return engine
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN; take over.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (``expire_on_commit=False``)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows at once: COPY on PostgreSQL, a multi-row executemany elsewhere.

    Publishing an official decision writes tens of thousands of versions and feed records;
    COPY is several times faster than INSERT there, and this is the only place that knows.
    """
    insert_rows(session.connection(), table, rows)


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """:func:`bulk_insert` on a connection, for writers that run off the session's thread."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    raw: Any = connection.connection.dbapi_connection  # a psycopg.Connection here
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    as_json = [c in json_columns for c in columns]
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_json_text(row[c]) if j else row[c]
                            for c, j in zip(columns, as_json, strict=True)])


def _json_text(value: Any) -> str | None:
    """A JSON column's text for COPY; most attribute maps are empty."""
    if value is None:
        return None
    if not value and isinstance(value, dict):
        return "{}"
    return json.dumps(value, ensure_ascii=False)
