"""Each failure of the first hour: one ``error:`` line, non-zero, nothing created or changed.

Real processes in a scratch directory: the output is not a terminal (as in a log or cron),
so a long line must come out whole.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, registry, tree

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with one migrated database, ``reg.db``, holding the Hà Nội examples."""
    root = tmp_path_factory.mktemp("first-hour")
    assert registry(root, "db", "upgrade", "--db", "reg.db").returncode == 0
    for name in ("hanoi-baseline.json", "hanoi-2025.json"):
        proc = registry(root, "import", "changeset", str(EXAMPLES / name), "--publish",
                        "--db", "reg.db")
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


FAILURES: list[tuple[tuple[str, ...], dict[str, str], tuple[str, ...]]] = [
    # No database given and none here: say so, and how to make one; create nothing.
    (("lists",), {}, ("database file 'registry.db' does not exist", "registry db upgrade",
                      "registry demo")),
    (("resolve", "admin-units", "00013", "--db", "missing.db"), {},
     ("'missing.db' does not exist",)),
    (("token", "create", "--name", "a", "--role", "admin", "--db", "typo.db"), {},
     ("'typo.db' does not exist",)),
    (("lists",), {"REGISTRY_DATABASE_URL": "sqlite:///typo.db"}, ("'typo.db' does not exist",)),
    (("lists",), {"REGISTRY_DATABASE_URL": "foo://bar"},
     ("REGISTRY_DATABASE_URL: 'foo://bar' is not a database URL", "a SQLite file path")),
    (("lists", "--db", "foo://bar"), {}, ("--db: 'foo://bar' is not a database URL",)),
    # A limit that is not a positive whole number, before any module reads it.
    (("serve", "--db", "reg.db"), {"REGISTRY_MAX_GRAPHQL_COST": "abc"},
     ("REGISTRY_MAX_GRAPHQL_COST: 'abc' is not a positive whole number",)),
    (("sync", "status", "--into", "sqlite:///replica.db"), {"REGISTRY_MAX_SYNC_LISTS": "0"},
     ("REGISTRY_MAX_SYNC_LISTS: '0' is not a positive whole number",)),
    (("lists", "--db", "postgresql://postgres@127.0.0.1:1/registry"), {},
     ("cannot open database postgresql://postgres@127.0.0.1:1/registry", "refused")),
    (("lists", "--db", "postgresql://postgres@127.0.0.1:5432/registry_cli_absent"), {},
     ("database 'registry_cli_absent' does not exist on the postgresql server 127.0.0.1:5432",
      "registry db upgrade --create --db postgresql://")),
    (("resolve", "admin-units", "00013", "--as-of", "20250701", "--db", "reg.db"), {},
     ("--as-of: '20250701' is not a date (YYYY-MM-DD)",)),
    (("show", "admin-units", "00013", "--as-of", "2025-7-1"), {},
     ("--as-of: '2025-7-1' is not a date (YYYY-MM-DD)",)),
    (("show", "admin-units", "00004", "--at-release", "abc", "--db", "reg.db"), {},
     ("Invalid value for '--at-release'", "integer", "see 'registry show --help'")),
    (("history", "admin-unit", "00004", "--db", "reg.db"), {},
     ("no code list 'admin-unit' (known: admin-units, agencies",)),
    (("resolve", "admin-unit", "00004", "--db", "reg.db"), {},
     ("no code list 'admin-unit' (known: admin-units",)),
]


@pytest.mark.parametrize(("args", "env", "expected"), FAILURES)
def test_a_failure_is_one_line_and_changes_nothing(scratch: Path, args: tuple[str, ...],
                                                   env: dict[str, str],
                                                   expected: tuple[str, ...]) -> None:
    before = tree(scratch)
    line = assert_one_line_error(registry(scratch, *args, env=env), *expected)
    assert "Did you run" not in line and "db upgrade'?" not in line
    assert tree(scratch) == before


def test_only_a_missing_schema_suggests_db_upgrade(scratch: Path) -> None:
    import sqlite3

    with sqlite3.connect(scratch / "other.db") as connection:
        connection.execute("CREATE TABLE t (a INTEGER)")
    before = tree(scratch)
    assert_one_line_error(registry(scratch, "lists", "--db", "other.db"),
                          "database sqlite:///other.db has no registry schema",
                          "'registry db upgrade --db other.db'")
    assert tree(scratch) == before
    (scratch / "other.db").unlink()


def test_a_plain_path_in_the_variable_is_a_sqlite_file(scratch: Path) -> None:
    proc = registry(scratch, "lists", "--json",
                    env={"REGISTRY_DATABASE_URL": str(scratch / "reg.db")})
    assert proc.returncode == 0, proc.stderr
    assert "admin-units" in {d["key"] for d in json.loads(proc.stdout)}


def test_serve_on_a_port_in_use(scratch: Path, busy_port: int) -> None:
    before = tree(scratch)
    assert_one_line_error(registry(scratch, "serve", "--port", str(busy_port), "--db", "reg.db"),
                          f"port {busy_port} on 127.0.0.1 is in use")
    assert tree(scratch) == before


def test_demo_checks_the_port_before_anything(scratch: Path, busy_port: int) -> None:
    before = tree(scratch)
    proc = registry(scratch, "demo", "--port", str(busy_port), "--db", "new-demo.db")
    assert_one_line_error(proc, f"port {busy_port} on 127.0.0.1 is in use")
    assert proc.stdout == ""  # no "serving …", no database line
    assert tree(scratch) == before


def test_help_names_the_variable_and_its_default(scratch: Path) -> None:
    for args in (("--help",), ("resolve", "--help"), ("token", "create", "--help"),
                 ("db", "upgrade", "--help")):
        text = " ".join(registry(scratch, *args, env={"COLUMNS": "200"}).stdout.split())
        assert "REGISTRY_DATABASE_URL" in text and "registry.db" in text, args
    assert "--db" in registry(scratch, "serve", "--help", env={"COLUMNS": "200"}).stdout


def test_history_shows_whole_dates_in_a_narrow_terminal_width(scratch: Path) -> None:
    proc = registry(scratch, "history", "admin-units", "00004", "--db", "reg.db",
                    env={"COLUMNS": "60"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("2025-07-01") >= 2 and "2025-…" not in proc.stdout


def test_one_operation_is_singular(scratch: Path, tmp_path: Path) -> None:
    spec = json.loads((EXAMPLES / "hanoi-baseline.json").read_text("utf-8"))
    spec["operations"] = [{"op": "create", "list": "admin-units", "code": "00099",
                           "name": "Phường Thử", "type": "Phường", "parent": "001"}]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), "utf-8")
    proc = registry(scratch, "import", "changeset", str(path), "--db", "reg.db")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "change set 3 created as a draft with 1 operation\n"
    proc = registry(scratch, "changeset", "show", "3", "--db", "reg.db")
    assert proc.returncode == 0, proc.stderr
    assert "1 operation\n" in proc.stdout and "create   admin-units 00099" in proc.stdout


def test_a_published_change_set_shows_the_diff_it_made(scratch: Path) -> None:
    proc = registry(scratch, "changeset", "show", "2", "--json", "--db", "reg.db")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "published" and data["diff"]["changes"]
    kinds = {c["kind"] for c in data["diff"]["changes"]}
    assert kinds <= {"create", "update", "retire"} and data["diff"]["links"]
    proc = registry(scratch, "changeset", "show", "2", "--db", "reg.db")
    assert proc.returncode == 0, proc.stderr
    assert "effective 2025-07-01 —" in proc.stdout and "link " in proc.stdout
