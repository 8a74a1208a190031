"""``registry sync`` when something is wrong: a centre that is down, a base URL with a path,
an unknown list, scope or token, a replica that does not exist. Each failure is one line
``error: …`` naming the thing and the rule, a non-zero exit, no traceback, and no file or
database created or changed (real processes, a scratch directory, a real centre)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy_utils import database_exists

from registry.services import sync_ledger
from registry.services.actors import SYSTEM
from registry.services.tokens import create_token
from registry.sync.local_store import normalise_local_url
from tests import processes
from tests.conftest import PG_SERVER
from tests.factories import hanoi
from tests.sync.conftest import MARIADB_SERVER, TARGETS, Centre, Targets, dump, free_port


def _sync(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``registry sync …`` in a process of its own, its output not a terminal (as in cron)."""
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_SYNC_TOKEN"}
    return processes.run([sys.executable, "-m", "registry.sync", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)


def _one_error(done: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The one ``error:`` line of a failed command (its last line), after the checks."""
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert done.stderr.splitlines()[-1] == errors[0], done.stderr
    return errors[0]


def _listing(where: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(where)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in where.rglob("*"))


def _tables(url: str) -> list[str] | None:
    """The tables of a server database (``None`` for a SQLite URL, whose file is checked)."""
    if url.startswith("sqlite"):
        return None
    engine = create_engine(normalise_local_url(url))
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """An empty working directory for the commands."""
    found = tmp_path / "work"
    found.mkdir()
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_a_pull_from_a_centre_that_is_down_says_so_and_creates_nothing(
        targets: Targets, scratch: Path, target: str) -> None:
    port = free_port()  # nobody listens there
    into = (f"sqlite:///{scratch / 'replica.db'}" if target == "sqlite"
            else targets.new(target))
    before, tables = _listing(scratch), _tables(into)
    done = _sync(scratch, "pull", "--from", f"http://127.0.0.1:{port}/registry/", "--into",
                 into, "--retries", "2")
    # A base URL with a path is where the registry is mounted; it is named once.
    assert _one_error(done, 5) == (f"error: cannot reach the centre at http://127.0.0.1:{port}"
                                   "/registry: connection refused (gave up after 3 attempts)")
    # Retries are visible: what failed, and what happens next.
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr
    assert lines[0].startswith(f"warning: cannot reach the centre at http://127.0.0.1:{port}/"
                               "registry: connection refused; trying again in ")
    assert lines[0].endswith("(attempt 2 of 3)")
    assert lines[1].startswith("connection refused: trying again in ")
    assert lines[1].endswith("(attempt 3 of 3)")
    assert "/registry/registry" not in done.stderr
    assert _listing(scratch) == before
    assert _tables(into) == tables
    assert tables == (None if target == "sqlite" else [])


@pytest.mark.parametrize("case", ["lists", "scope", "token", "path"])
def test_a_pull_the_centre_refuses_creates_and_changes_nothing(
        sqlite_centre: Centre, scratch: Path, case: str) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    args = {"lists": ["--lists", "admin-unit"], "scope": ["--scope", "99"],
            "token": ["--token", "rgt_nope"], "path": []}[case]
    source = f"{centre.base}/elsewhere" if case == "path" else centre.base
    fresh = f"sqlite:///{scratch / 'fresh.db'}"
    before = _listing(scratch)
    line = _one_error(_sync(scratch, "pull", "--from", source, "--into", fresh, *args))
    assert _listing(scratch) == before
    wanted = {
        "lists": f"error: the centre at {centre.base} refuses the subscription: no code list "
                 "'admin-unit' at release 2; the lists are: admin-units, agencies, procedures",
        "scope": f"error: the centre at {centre.base} refuses the subscription: the scope "
                 "admin-units:99 names no entry of 'admin-units' at release 2",
        "token": f"error: GET {centre.base}/sync/v1/head: HTTP 401: the API token is unknown "
                 "or revoked",
        "path": f"error: no registry feed at {centre.base}/elsewhere/sync/v1/head (HTTP 404): "
                "--from takes the registry's base URL, e.g. https://registry.example.gov.vn",
    }[case]
    assert line.startswith(wanted), line

    # A replica that exists is not touched either.
    existing = f"sqlite:///{scratch / 'replica.db'}"
    assert _sync(scratch, "pull", "--from", centre.base, "--into", existing,
                 "--quiet").returncode == 0
    rows = dump(existing)
    before = _listing(scratch)
    assert _one_error(_sync(scratch, "pull", "--from", source, "--into", existing,
                            *args)).startswith(wanted)
    assert dump(existing) == rows  # only the last error is noted, for ``status``
    assert [entry[0] for entry in _listing(scratch)] == [entry[0] for entry in before]


@pytest.mark.parametrize("target", TARGETS)
def test_status_and_verify_of_a_replica_that_does_not_exist_create_nothing(
        targets: Targets, scratch: Path, target: str) -> None:
    into = (f"sqlite:///{scratch / 'missing.db'}" if target == "sqlite"
            else targets.new(target))
    before, tables = _listing(scratch), _tables(into)
    why = ("the file " + str(scratch / "missing.db") + " does not exist"
           if target == "sqlite" else "it has no replica tables")
    for args in (["status"], ["status", "--json"],
                 ["verify", "--from", f"http://127.0.0.1:{free_port()}"]):
        line = _one_error(_sync(scratch, *args, "--into", into))
        assert line.startswith("error: no replica in "), line
        assert line.endswith(f": {why}; 'registry sync pull --from URL --into …' makes one")
    assert _listing(scratch) == before
    assert _tables(into) == tables
    assert tables == (None if target == "sqlite" else [])


def test_status_of_a_file_that_is_not_a_replica_leaves_it_as_it_was(scratch: Path) -> None:
    other = scratch / "registry.db"
    other.write_bytes(b"")  # e.g. a database of the registry itself, or an empty file
    before = _listing(scratch)
    line = _one_error(_sync(scratch, "status", "--into", f"sqlite:///{other}"))
    assert line.endswith("it has no replica tables; 'registry sync pull --from URL --into …' "
                         "makes one")
    assert _listing(scratch) == before


def test_a_pull_without_a_token_warns_once_that_the_ledger_cannot_see_it(
        sqlite_centre: Centre, scratch: Path) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = f"sqlite:///{scratch / 'replica.db'}"
    # The URL of the GraphQL endpoint names the same registry as its base URL.
    done = _sync(scratch, "pull", "--from", f"{centre.base}/graphql/", "--into", into)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: no token: the centre's ledger will not show this replica's "
                        "position; give --token or REGISTRY_SYNC_TOKEN (a token of role sync)"]
    status = json.loads(_sync(scratch, "status", "--into", into, "--json").stdout)
    assert status["source"] == centre.base
    assert centre.run(sync_ledger.list_consumers) == []

    secret = centre.run(lambda s: create_token(s, SYSTEM, "province-01", "sync")).secret
    done = _sync(scratch, "pull", "--from", centre.base, "--into", into, "--token", secret,
                 "--name", "ubnd-hanoi")
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr
    assert [c.name for c in centre.run(sync_ledger.list_consumers)] == ["ubnd-hanoi"]
    quiet = _sync(scratch, "pull", "--from", centre.base, "--into", into, "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""  # cron: the operator has chosen


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_replica_database_missing_on_its_server_is_named_by_its_url(
        sqlite_centre: Centre, scratch: Path, server: str) -> None:
    base = PG_SERVER if server == "postgresql" else MARIADB_SERVER
    name = f"no_such_replica_{os.getpid()}"
    into = f"{base}/{name}"
    backend, where = (("postgresql", "127.0.0.1:5432") if server == "postgresql"
                      else ("mysql", "127.0.0.1:3306"))
    expected = (f"error: local database '{name}' does not exist on the {backend} server "
                f"{where}; create an empty database of that name (CREATE DATABASE {name}) "
                "and run again")
    for args in (["status"], ["pull", "--from", sqlite_centre.base]):
        assert _one_error(_sync(scratch, *args, "--into", into)) == expected
    assert not database_exists(into)
