"""registry.replicas without a standby cluster: the settings' errors, the choice of a read
database, and the fall-back to the primary when a standby does not answer. The real
standby is in tests/deploy/test_standby_reads.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from registry.db import session_factory
from registry.errors import RegistryError
from registry.replicas import Need, ReadRouter, read_urls_from_env
from registry.services.feed import Head
from tests import processes
from tests.conftest import Database, Templates
from tests.sync.conftest import free_port

CLOSED = "postgresql://postgres@127.0.0.1:1/registry"  # nothing listens on port 1


def test_a_standby_url_that_is_not_postgresql_is_refused_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_READ_DATABASE_URLS", f"{CLOSED}, sqlite:///standby.db")
    with pytest.raises(RegistryError) as refused:
        read_urls_from_env()
    assert "REGISTRY_READ_DATABASE_URLS" in refused.value.message
    assert "sqlite:///standby.db" in refused.value.message
    monkeypatch.setenv("REGISTRY_READ_DATABASE_URLS", f" {CLOSED} ,, ")
    assert read_urls_from_env() == [CLOSED]


def test_standbys_need_a_postgresql_primary(database: Database) -> None:
    if database.backend == "postgresql":
        ReadRouter(session_factory(database.engine), [CLOSED]).stop()
        return
    with pytest.raises(RegistryError, match="needs a PostgreSQL primary"):
        ReadRouter(session_factory(database.engine), [CLOSED])


@pytest.fixture
def router(pg_database: Database) -> Iterator[ReadRouter]:
    made = ReadRouter(session_factory(pg_database.engine), [CLOSED, CLOSED], interval=60)
    yield made
    made.stop()


def _head(release: int, seq: int) -> Head:
    return Head(epoch="e", seq=seq, release=release, hash="h")


def test_a_read_goes_to_a_standby_that_has_what_it_needs(router: ReadRouter) -> None:
    first, second = router.standbys
    router.primary.head = _head(5, 50)
    first.head, first.up = _head(5, 50), True
    second.head, second.up = _head(4, 40), True
    need = router.default_need()
    assert need == Need(release=5, seq=50)
    assert {router.choose(need).name for _ in range(4)} == {first.name}
    assert router.choose(Need(release=4)).standby  # either standby has release 4
    assert {router.choose(Need(release=4)).name for _ in range(4)} == {first.name,
                                                                       second.name}
    # The client was shown release 6: nobody here has it, the primary answers.
    assert router.choose(router.default_need(at_least=6)) is router.primary
    first.up = False
    assert router.choose(need) is router.primary


def test_before_the_primary_head_is_known_reads_go_to_the_primary(router: ReadRouter) -> None:
    for target in router.standbys:
        target.head, target.up = _head(9, 90), True
    assert router.primary.head is None
    assert router.choose(router.default_need()) is router.primary


def test_a_standby_that_does_not_answer_is_left_out_and_the_primary_answers(
        router: ReadRouter) -> None:
    router.poll_once()  # nothing answers on port 1: both left out
    assert [t.up for t in router.standbys] == [False, False]
    assert router.primary.head is not None
    first = router.standbys[0]
    first.head, first.up = router.primary.head, True  # as if it had answered a moment ago
    used: list[str] = []

    def read(sessions: sessionmaker[Session]) -> int:
        used.append("standby" if sessions is first.sessions else "primary")
        with sessions() as session:
            return int(session.execute(text("SELECT 1")).scalar_one())

    assert router.run(Need(), read) == 1
    assert used == ["standby", "primary"]
    assert first.up is False
    assert router.describe()[1]["up"] is False
    assert router.probe(first) is False


@pytest.mark.parametrize(("standbys", "said"), [
    ("sqlite:///standby.db", "'sqlite:///standby.db' is not a PostgreSQL URL"),
    (CLOSED, "needs a PostgreSQL primary; the database is sqlite"),
])
def test_serve_refuses_unusable_standbys_in_one_line(tmp_path: Path, standbys: str,
                                                     said: str) -> None:
    db = tmp_path / "centre.db"
    command = [sys.executable, "-m", "registry"]
    processes.run([*command, "db", "upgrade", "--db", str(db)], check=True,
                   capture_output=True, cwd=tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    done = processes.run([*command, "serve", "--db", str(db), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "REGISTRY_READ_DATABASE_URLS": standbys})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: REGISTRY_READ_DATABASE_URLS")
    assert said in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_read_the_standby_cancels_is_answered_by_the_primary_and_the_standby_stays(
        pg_database: Database) -> None:
    # The test database stands in for a standby that answers (it has the same data).
    router = ReadRouter(session_factory(pg_database.engine), [pg_database.url], interval=60)
    try:
        router.poll_once()
        standby = router.standbys[0]
        assert standby.up and standby.head == router.primary.head

        def read(sessions: sessionmaker[Session]) -> str:
            with sessions() as session:
                if sessions is standby.sessions:  # as PostgreSQL cancels a read in replay
                    session.execute(text("SELECT 1 / 0"))
                return "primary"

        assert router.run(Need(), read) == "primary"
        assert standby.up
    finally:
        router.stop()


@pytest.mark.parametrize("standby_answers", [True, False])
def test_a_graphql_read_the_standby_fails_is_answered_by_the_primary(
        pg_database: Database, templates: Templates, monkeypatch: pytest.MonkeyPatch,
        standby_answers: bool) -> None:
    from registry.app import create_app
    from registry.config import Settings
    from registry.db import make_engine, transaction
    from tests.factories import hanoi
    from tests.test_app import _request

    with transaction(session_factory(pg_database.engine)) as session:
        hanoi(session)
    if standby_answers:
        # It answers (its head can be read) but fails the request's reads, as a standby
        # that cancels a read while replaying does.
        broken = templates.fresh_url("postgresql")
        engine = make_engine(broken)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE entry_versions CASCADE"))
        engine.dispose()
    else:  # it fails everything
        broken = f"{pg_database.url}?options=-csearch_path%3Dnowhere"
    monkeypatch.setenv("REGISTRY_READ_DATABASE_URLS", broken)
    app = create_app(Settings(database_url=pg_database.url, anonymous_read=True))
    router: ReadRouter = app.state.router
    try:
        router.poll_once()
        assert router.primary.head is not None
        assert router.standbys[0].up is standby_answers
        standby = router.standbys[0]
        standby.head, standby.up = router.primary.head, True  # as if it had all of it
        before = _reads("primary"), _reads("standby")
        answer = _request(app, "POST", "/graphql", json={
            "query": '{ administrativeUnit(code: "001", asOf: "2025-08-01") { name } }'})
        assert answer.status_code == 200
        assert answer.json() == {"data": {"administrativeUnit": {"name": "Quận Ba Đình"}}}
        assert (_reads("primary"), _reads("standby")) == (before[0] + 1, before[1] + 1)
        assert standby.up is standby_answers  # left out only when it no longer answers
    finally:
        router.stop()
        app.state.engine.dispose()


def _reads(target: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("registry_read_database_total",
                                     {"target": target}) or 0.0
