"""Test databases: real PostgreSQL and SQLite, built by the migrations, never create_all.

Every test that takes ``session`` runs on both backends, inside a transaction that is
rolled back (services flush, so their writes land in it). Tests that need real commits
(concurrency, HTTP servers, sync) take ``database`` for a fresh, migrated database of
their own, cloned from a template. Each test process (pytest-xdist worker) migrates its
own templates; the template with the bundled data loaded is built once per run, by the
first worker that needs it, and cloned by all. Databases are created and dropped with
sqlalchemy-utils.

``REGISTRY_TEST_BACKENDS`` (default ``sqlite,postgresql``) picks the backends;
``REGISTRY_TEST_PG`` is the server (default ``postgresql://postgres@127.0.0.1:5432``).
An unreachable PostgreSQL is a failure, never a skip: CI must not pass without it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pickle
import shutil
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session
from sqlalchemy_utils import create_database, database_exists, drop_database

from registry.db import make_engine
from registry.importers.bundled_load import LoadReport, load_bundled_data
from registry.migrate import upgrade
from tests.run_costs import compile_once, share_tls_contexts

PG_SERVER = os.environ.get("REGISTRY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
T = TypeVar("T")
SHARED_PG = "shared-postgresql-databases.txt"
# Servers the tests start deliver no webhooks unless a test asks (tests/webhooks/).
os.environ.setdefault("REGISTRY_WEBHOOKS", "0")
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
    """Template databases per backend, built once per test process and cloned for tests.

    Two kinds: ``migrated`` (an empty schema) and ``bundled`` (every bundled change set
    published, as ``registry demo`` loads them). Loading the bundle takes seconds, so the
    modules that read it clone one loaded template instead of loading it each.
    """

    def __init__(self, tmp: Path, shared: Path) -> None:
        self.tmp = tmp
        self.shared = shared  # the same directory for every worker of one run
        self.names: list[str] = []  # PostgreSQL databases to drop at the end
        self.admin: Engine | None = None
        self.built: dict[tuple[str, str], str] = {}  # (backend, kind) -> URL
        self.reports: dict[str, LoadReport] = {}  # backend -> the bundled load's report
        self.dropper: ThreadPoolExecutor | None = None
        self.dropping: list[Future[None]] = []

    def _pg(self) -> Engine:
        if self.admin is None:
            self.admin = _pg_admin()
        return self.admin

    def _new_url(self, backend: str, prefix: str) -> str:
        if backend == "postgresql":
            self._pg()  # fails the run with a clear message when the server is down
            name = f"{prefix}_{uuid.uuid4().hex[:12]}"
            self.names.append(name)
            return f"{PG_SERVER}/{name}"
        return f"sqlite:///{self.tmp / (prefix + '_' + uuid.uuid4().hex[:12] + '.db')}"

    def _clone(self, template_url: str, url: str) -> None:
        if url.startswith("sqlite"):
            shutil.copyfile(template_url.removeprefix("sqlite:///"),
                            url.removeprefix("sqlite:///"))
        else:
            create_database(url, template=make_url(template_url).database)

    def template_url(self, backend: str, kind: str = "migrated") -> str:
        """The URL of the template of ``kind`` on ``backend``, built on first use."""
        if (backend, kind) in self.built:
            return self.built[(backend, kind)]
        url = self._new_url(backend, "registry_tpl")
        if kind == "migrated":
            if backend == "postgresql":
                create_database(url)
            engine = make_engine(url)
            upgrade(engine)
        elif kind == "bundled":
            url = self._shared_bundled(backend)
            self.built[(backend, kind)] = url
            return url
        else:
            raise ValueError(kind)
        if backend == "sqlite":  # the copies must not need the WAL file
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        self.built[(backend, kind)] = url
        return url

    def _shared_bundled(self, backend: str) -> str:
        """The loaded template, built by the first worker that needs it and shared by all
        (the loads are the slowest set-up of the suite); dropped by :func:`drop_shared`."""
        record = self.shared / f"bundled-{backend}.pickle"
        with open(self.shared / f"bundled-{backend}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not record.exists():
                name = f"registry_tpl_{uuid.uuid4().hex[:12]}"
                if backend == "postgresql":
                    url = f"{PG_SERVER}/{name}"
                    drop_later(self.shared, url)
                else:
                    url = f"sqlite:///{self.shared / (name + '.db')}"
                self._clone(self.template_url(backend), url)
                engine = make_engine(url)
                report = load_bundled_data(engine)
                if backend == "sqlite":
                    with engine.connect() as conn:
                        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                engine.dispose()
                record.write_bytes(pickle.dumps((url, report)))
            url, self.reports[backend] = pickle.loads(record.read_bytes())
        return str(url)

    def fresh_url(self, backend: str, kind: str = "migrated") -> str:
        """A new database of the test's own, a copy of the template of ``kind``."""
        template = self.template_url(backend, kind)
        url = self._new_url(backend, "registry_t")
        self._clone(template, url)
        return url

    def retire(self, url: str) -> None:
        """A test's own database is no longer used: dropped in the background.

        One drop at a time per test process, while the tests go on, so that the drops do
        not pile up at the end of the run (each waits for a checkpoint: about 70 ms when
        nothing else writes; a run makes some 700)."""
        if not url.startswith("postgresql"):
            return
        name = make_url(url).database
        if name in self.names:
            self.names.remove(name)
            if self.dropper is None:
                self.dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop")
            self.dropping.append(self.dropper.submit(_drop_forced, self._pg(), str(name)))

    def drop_all(self) -> None:
        """Finish the background drops; leave what is left (and what failed) to the end
        of the run (see :func:`drop_later`)."""
        if self.dropper is not None:
            self.dropper.shutdown(wait=True)
        for future in self.dropping:
            failed = future.exception()
            if failed is not None:
                self.names.append(str(failed.args[0]))
        for name in self.names:
            drop_later(self.shared, f"{PG_SERVER}/{name}")
        if self.admin is not None:
            self.admin.dispose()


def drop_later(shared: Path, url: str) -> None:
    """Have the PostgreSQL database ``url`` dropped when the whole run ends.

    Every DROP DATABASE waits for a checkpoint, and a checkpoint while other workers load
    the bundle flushes all they wrote: a test's teardown took up to 30 s. Dropped together
    at the end, when nothing else writes, the drops share a few short checkpoints.
    """
    with open(shared / SHARED_PG, "a") as names:
        names.write(url + "\n")


def _drop_everything(urls: list[str]) -> None:
    admin = _pg_admin()
    names = [make_url(url).database for url in urls]
    # A server thread or a leaked pool may still hold a connection: end them first.
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"),
                     {"names": names})
    admin.dispose()
    # Concurrent drops share one checkpoint.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_drop, urls))


class DropFailed(Exception):
    """A background drop that did not happen; its argument is the database's name."""


def _drop_forced(admin: Engine, name: str) -> None:
    """DROP DATABASE … WITH (FORCE): a server a test started may still hold a connection."""
    try:
        with admin.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # left to the end of the run, like every other database
        raise DropFailed(name) from exc


def _drop(url: str) -> None:
    if database_exists(url):
        drop_database(url)


def _shared_dir(config: pytest.Config) -> Path:
    # Under pytest-xdist each worker's base directory is inside the controller's.
    base: Path = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def pytest_configure(config: pytest.Config) -> None:
    compile_once(config)
    share_tls_contexts()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop every PostgreSQL database of the run, once all workers have finished (this
    runs in the controller, or in the only process without workers)."""
    if hasattr(session.config, "workerinput"):
        return
    names = _shared_dir(session.config) / SHARED_PG
    if names.exists():
        _drop_everything(sorted(set(names.read_text().split())))
        names.unlink()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory,
              request: pytest.FixtureRequest) -> Iterator[Templates]:
    found = Templates(tmp_path_factory.mktemp("databases"), _shared_dir(request.config))
    yield found
    found.drop_all()


@pytest.fixture(scope="session")
def shared_dir(request: pytest.FixtureRequest) -> Path:
    """The directory that every worker of this run shares."""
    return _shared_dir(request.config)


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
    templates.retire(url)


@pytest.fixture
def pg_database(templates: Templates) -> Iterator[Database]:
    """A fresh PostgreSQL database, for tests of PostgreSQL-only behaviour."""
    url = templates.fresh_url("postgresql")
    engine = make_engine(url)
    yield Database("postgresql", url, engine)
    engine.dispose()
    templates.retire(url)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous test code.

    In a thread of its own: the browser tests' Playwright keeps an event loop running in
    the main thread for the whole session, and ``asyncio.run`` refuses to nest in it.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
