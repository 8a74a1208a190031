"""Scratch PostgreSQL databases for the benchmarks: created fresh, dropped afterwards."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def fresh_pg(server: str = DEFAULT_SERVER) -> str:
    """Create an empty database on ``server``; return its URL."""
    name = f"registry_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"


def drop_pg(server: str, url: str) -> None:
    """Drop the database that ``url`` names, closing its connections."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
