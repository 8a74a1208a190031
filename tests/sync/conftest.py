"""Real processes for the sync tests: a centre served by uvicorn on a loopback port, and
replica databases on SQLite, PostgreSQL and MariaDB that each test creates and drops.

``REGISTRY_TEST_MARIADB`` names the MariaDB/MySQL server
(default ``mysql+pymysql://root@127.0.0.1:3306``). Like PostgreSQL, an unreachable
MariaDB is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy_utils import create_database, database_exists, drop_database

from registry.db import make_engine, session_factory, transaction
from registry.sync.client import SyncClient
from tests import processes
from tests.conftest import PG_SERVER, Database, Templates, drop_later
from tests.factories import hanoi, publish
from tests.processes import stop_child

MARIADB_SERVER = os.environ.get("REGISTRY_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
TARGETS = ["sqlite", "postgresql", "mariadb"]


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Centre:
    """A registry database served over HTTP by a real uvicorn process."""

    url: str  # database URL
    backend: str
    engine: Engine
    tmp: Path
    page_size: int = 1000
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    factory: str = "registry.sync.app:create_sync_app"

    @property
    def base(self) -> str:
        """The HTTP base URL replicas use."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the centre's database (for publishing)."""
        return session_factory(self.engine)

    def start(self, database_url: str | None = None) -> None:
        """Start (or restart) the server, and wait until it answers."""
        env = {**os.environ, "REGISTRY_DATABASE_URL": database_url or self.url,
               "REGISTRY_SYNC_PAGE_SIZE": str(self.page_size), **self.env}
        log = open(self.tmp / f"centre-{self.port}.log", "ab")  # noqa: SIM115 (kept by Popen)
        self.process = processes.popen(
            [sys.executable, "-m", "uvicorn", "--factory", self.factory,
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the centre exited: see {log.name}")
            try:
                urllib.request.urlopen(f"{self.base}/sync/v1/head", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answers (a 401 when anonymous reading is off)
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the centre did not start in 30 s")

    def stop(self) -> None:
        """Stop the server process (this process's own child, by its id)."""
        stop_child(self.process)
        self.process = None

    def publish(self, ops: list[dict[str, Any]], effective: str = "2025-01-01",
                title: str = "test change") -> int:
        """Publish ``ops`` as one release, through the services; return the release."""
        with transaction(self.sessions) as session:
            return publish(session, ops, effective, title)

    def run(self, work: Callable[[Session], Any]) -> Any:
        """Run ``work`` in one committed transaction on the centre."""
        with transaction(self.sessions) as session:
            return work(session)


def _centre(database: Database, tmp_path: Path, page_size: int = 1000) -> Iterator[Centre]:
    centre = Centre(url=database.url, backend=database.backend, engine=database.engine,
                    tmp=tmp_path, page_size=page_size)
    centre.start()
    yield centre
    centre.stop()


@pytest.fixture
def centre(database: Database, tmp_path: Path) -> Iterator[Centre]:
    """A served centre on each backend (SQLite and PostgreSQL)."""
    yield from _centre(database, tmp_path)


@pytest.fixture
def sqlite_centre(templates: Templates, tmp_path: Path) -> Iterator[Centre]:
    """A served SQLite centre, for tests whose subject is not the centre's backend."""
    url = templates.fresh_url("sqlite")
    engine = make_engine(url)
    yield from _centre(Database("sqlite", url, engine), tmp_path)
    engine.dispose()


@pytest.fixture
def small_page_centre(templates: Templates, tmp_path: Path) -> Iterator[Centre]:
    """A served SQLite centre paging its feed by 5 records, so releases span pages."""
    url = templates.fresh_url("sqlite")
    engine = make_engine(url)
    yield from _centre(Database("sqlite", url, engine), tmp_path, page_size=5)
    engine.dispose()


@pytest.fixture
def pg_centre(templates: Templates, tmp_path: Path) -> Iterator[Centre]:
    """A served PostgreSQL centre."""
    url = templates.fresh_url("postgresql")
    engine = make_engine(url)
    yield from _centre(Database("postgresql", url, engine), tmp_path)
    engine.dispose()


class Targets:
    """Replica databases created on demand; MariaDB's are dropped at the end of the test,
    PostgreSQL's at the end of the run (:func:`tests.conftest.drop_later`)."""

    def __init__(self, tmp: Path, shared: Path) -> None:
        self.tmp = tmp
        self.shared = shared
        self.dropped: list[str] = []

    def new(self, backend: str) -> str:
        """The URL of a new, empty database on ``backend``."""
        name = f"sync_r_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.db')}"
        if backend == "postgresql":
            url = f"{PG_SERVER}/{name}"
            create_database(url)
            drop_later(self.shared, url)
            return url
        if backend == "mariadb":
            _maria_reachable()
            url = f"{MARIADB_SERVER}/{name}"
            create_database(url, encoding="utf8mb4")
        else:
            raise ValueError(backend)
        self.dropped.append(url)
        return url

    def drop_all(self) -> None:
        """Drop every MariaDB database made here."""
        for url in self.dropped:
            drop_server_database(url)


def drop_server_database(url: str) -> None:
    """Drop a test's MariaDB database (a quick drop, unlike PostgreSQL's)."""
    if database_exists(url):
        drop_database(url)


def _maria_reachable() -> None:
    engine = create_engine(f"{MARIADB_SERVER}/")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any connection failure must fail the run loudly
        pytest.fail(f"MariaDB is required for the sync tests and is unreachable at "
                    f"{MARIADB_SERVER}: {exc}", pytrace=False)
    finally:
        engine.dispose()


@pytest.fixture
def targets(tmp_path: Path, shared_dir: Path) -> Iterator[Targets]:
    """Factory of replica databases."""
    found = Targets(tmp_path, shared_dir)
    yield found
    found.drop_all()


def clone_centre_database(templates: Templates, centre: Centre, tmp: Path) -> str:
    """A copy of the centre's database as it is now (a "backup"); the server must be down
    for PostgreSQL, which copies through a template."""
    centre.engine.dispose()
    if centre.backend == "sqlite":
        with centre.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        centre.engine.dispose()
        source = centre.url.removeprefix("sqlite:///")
        copy = tmp / f"backup-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(source, copy)
        return f"sqlite:///{copy}"
    name = f"registry_t_{uuid.uuid4().hex[:12]}"
    templates.names.append(name)  # dropped with the other test databases
    create_database(f"{PG_SERVER}/{name}", template=make_url(centre.url).database)
    return f"{PG_SERVER}/{name}"


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the replica's data tables and cursor, sorted: equal dumps are equal
    databases."""
    from registry.sync.local_schema import lineage, lists, releases, sync_state, versions
    from registry.sync.local_store import normalise_local_url

    engine = make_engine(normalise_local_url(url))
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in (lists, versions, lineage):
            out[table.name] = sorted(tuple(str(v) for v in row) for row in
                                      conn.execute(table.select()))
        out["releases"] = sorted(tuple(str(v) for v in row[:3])
                                 for row in conn.execute(releases.select()))
        state = conn.execute(sync_state.select()).one()
        out["cursor"] = [(state.epoch, state.seq, state.hash, state.release_id)]
    engine.dispose()
    return out


def forget_notifications(into: str, after_release: int) -> None:
    """Make a replica believe it notified nothing after ``after_release``: what a crash
    between a release's commit and its hook leaves behind."""
    from registry.sync.local_store import LocalStore

    store = LocalStore(into)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE registry_sync_state SET notified_release = :r"),
                     {"r": after_release})
    store.close()


def hanoi_replica(centre: Centre, targets: Targets, backend: str = "sqlite",
                  **options: Any) -> tuple[SyncClient, str]:
    """Hà Nội published at ``centre`` and pulled into a new replica on ``backend``: the
    client (the caller closes it) and the replica's URL."""
    centre.run(hanoi)
    into = targets.new(backend)
    client = SyncClient(centre.base, into, **options)
    client.pull()
    return client, into


def cut_after_three_snapshot_pages(proxy: Any, into: str,
                                   passing: Callable[[str], Any] | None = None) -> Any:
    """Bootstrap ``into`` through ``proxy`` (a :class:`tests.sync.proxy.Proxy`) in pages of
    10 records, each committed with its position, until the link goes down after the
    third snapshot page (``passing`` may answer those three itself). Checks that nothing
    half-done is visible, and returns the replica's store as the failure left it (the
    caller closes it)."""
    from registry.sync.local_store import LocalStore
    from registry.sync.transport import HttpError
    from tests.sync.proxy import Reply

    served: list[str] = []

    def three_pages_then_down(path: str) -> Reply | None:
        if "/snapshot/" not in path:
            return None
        served.append(path)
        if len(served) > 3:
            return Reply(400, {"Content-Type": "application/json"},
                         b'{"error": "x", "message": "the link went down"}')
        return passing(path) if passing else None

    proxy.before = three_pages_then_down
    client = SyncClient(proxy.base, into, snapshot_limit=10)
    client.stage_commit = 1  # commit every page
    with pytest.raises(HttpError):
        client.pull()
    client.close()
    proxy.before = None
    store = LocalStore(into)
    assert not store.state().bootstrapped
    assert store.counts() == {}  # nothing half-done is visible to local applications
    return store
