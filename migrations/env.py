"""Alembic environment: one set of migrations for PostgreSQL and SQLite (batch mode)."""

from __future__ import annotations

from alembic import context

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


def _run(connection: object) -> None:
    context.configure(
        include_object=_include_object,
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(str(connection.engine.url)),  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
