"""Alembic environment: one set of migrations for PostgreSQL and SQLite (batch mode)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from registry.config import load_settings
from registry.db import is_sqlite, make_engine
from registry.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


def _include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
    # Dialect-specific indexes created by hand in migrations (see 0001).
    return not (type_ == "index" and name is not None and name.startswith("ixtrgm_"))


def _run(connection: Connection) -> None:
    sqlite = is_sqlite(str(connection.engine.url))
    if sqlite:
        # Batch mode rebuilds tables (copy, drop, rename); with foreign keys enforced SQLite
        # refuses to drop a table that others reference. The switch only works outside a
        # transaction; every key is checked again before the migration commits.
        _sqlite_foreign_keys(connection, on=False)
    try:
        context.configure(
            include_object=_include_object,
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
            # SQLite runs DDL in transactions too; Alembic assumes it cannot, and would
            # commit each migration before the key check below could refuse it.
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        f"the migration would break foreign keys (table, rowid, parent): "
                        f"{[tuple(row[:3]) for row in broken[:5]]}; nothing was changed")
        if connection.in_transaction():
            connection.commit()
    finally:
        if connection.in_transaction():
            connection.rollback()  # a failed migration: SQLite ignores the switch inside one
        if sqlite:
            _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


run_migrations_online()
