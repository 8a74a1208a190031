"""Test databases: real PostgreSQL and SQLite, built by the migrations, never create_all.

Every test that takes ``session`` runs on both backends, inside a transaction that is
rolled back (services flush, so their writes land in it). Tests that need real commits
(concurrency, HTTP servers, sync) take ``database`` for a fresh, migrated database of
their own, cloned from a template.

``REGISTRY_TEST_BACKENDS`` (default ``sqlite,postgresql``) picks the backends;
``REGISTRY_TEST_PG`` is the server (default ``postgresql://postgres@127.0.0.1:5432``).
An unreachable PostgreSQL is a failure, never a skip: CI must not pass without it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.migrate import upgrade

PG_SERVER = os.environ.get("REGISTRY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
T = TypeVar("T")
BACKENDS = [b.strip() for b in os.environ.get("REGISTRY_TEST_BACKENDS",
                                              "sqlite,postgresql").split(",") if b.strip()]


@dataclass
class Database:
    """A migrated database of one backend: its URL and an engine on it."""

    backend: str
    url: str
    engine: Engine


def _pg_admin() -> Engine:
    engine = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure must fail the run loudly
        pytest.fail(f"PostgreSQL is required for the tests and is unreachable at {PG_SERVER}: "
                    f"{exc}. Start it, or set REGISTRY_TEST_BACKENDS=sqlite to run "
                    "SQLite only.", pytrace=False)
    return engine


class Templates:
    """One migrated template database per backend, cloned for tests that commit."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.names: list[str] = []
        self.admin: Engine | None = None
        self.pg_template: str | None = None
        self.sqlite_template: Path | None = None

    def _pg(self) -> Engine:
        if self.admin is None:
            self.admin = _pg_admin()
        return self.admin

    def template(self, backend: str) -> str:
        if backend == "postgresql":
            if self.pg_template is None:
                name = f"registry_tpl_{uuid.uuid4().hex[:10]}"
                with self._pg().connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                self.names.append(name)
                engine = make_engine(f"{PG_SERVER}/{name}")
                upgrade(engine)
                engine.dispose()
                self.pg_template = name
            return self.pg_template
        if self.sqlite_template is None:
            path = self.tmp / "template.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self.sqlite_template = path
        return str(self.sqlite_template)

    def fresh_url(self, backend: str) -> str:
        template = self.template(backend)
        if backend == "postgresql":
            name = f"registry_t_{uuid.uuid4().hex[:12]}"
            with self._pg().connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            self.names.append(name)
            return f"{PG_SERVER}/{name}"
        path = self.tmp / f"{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"

    def drop_all(self) -> None:
        if self.admin is None:
            return
        with self.admin.connect() as conn:
            for name in reversed(self.names):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    found = Templates(tmp_path_factory.mktemp("databases"))
    yield found
    found.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def shared_engine(templates: Templates, backend: str) -> Iterator[Engine]:
    engine = make_engine(templates.fresh_url(backend))
    yield engine
    engine.dispose()


@pytest.fixture
def session(shared_engine: Engine) -> Iterator[Session]:
    """A session whose every write is rolled back after the test."""
    with shared_engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint",
                     expire_on_commit=False) as db:
            yield db
        transaction.rollback()


@pytest.fixture
def database(templates: Templates, backend: str) -> Iterator[Database]:
    """A fresh migrated database of the test's own, for code that commits."""
    url = templates.fresh_url(backend)
    engine = make_engine(url)
    yield Database(backend, url, engine)
    engine.dispose()


@pytest.fixture
def pg_database(templates: Templates) -> Iterator[Database]:
    """A fresh PostgreSQL database, for tests of PostgreSQL-only behaviour."""
    url = templates.fresh_url("postgresql")
    engine = make_engine(url)
    yield Database("postgresql", url, engine)
    engine.dispose()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous test code.

    In a thread of its own: the browser tests' Playwright keeps an event loop running in
    the main thread for the whole session, and ``asyncio.run`` refuses to nest in it.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
