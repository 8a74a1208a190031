"""Scratch PostgreSQL databases for the benchmarks: created fresh, dropped afterwards.

Creating and dropping go through sqlalchemy-utils, as in the tests and in
``registry db upgrade --create``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, make_url, text
from sqlalchemy_utils import create_database, database_exists, drop_database

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def fresh_pg(server: str = DEFAULT_SERVER) -> str:
    """Create an empty database on ``server``; return its URL."""
    url = f"{server}/registry_bench_{uuid.uuid4().hex[:8]}"
    create_database(url)
    return url


def drop_pg(server: str, url: str) -> None:
    """Drop the database that ``url`` names, if it exists, closing its connections first
    (a bench server process may still hold some)."""
    if not database_exists(url):
        return
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :name AND pid <> pg_backend_pid()"),
                     {"name": make_url(url).database})
    admin.dispose()
    drop_database(url)
