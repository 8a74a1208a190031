"""The command line: real output, --json everywhere, clean errors that write nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from registry.cli import app
from tests import processes
from tests.conftest import Database

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
runner = CliRunner()


@pytest.fixture
def env(database: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database.url)
    return database


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def load_examples() -> None:
    for name in ("hanoi-baseline.json", "hanoi-2025.json"):
        code, _, err = run("import", "changeset", str(EXAMPLES / name), "--publish")
        assert code == 0, err


def test_import_show_history_resolve(env: Database) -> None:
    load_examples()
    code, out, _ = run("resolve", "admin-units", "00013", "--as-of", "2025-07-01", "--json")
    data = json.loads(out)
    assert code == 0 and data["status"] == "ended"
    assert [(s["entry"]["code"], s["default"]) for s in data["successors"]] == [("00004", True)]
    code, out, _ = run("show", "admin-units", "00004", "--as-of", "2025-06-30", "--json")
    assert json.loads(out)["name"] == "Phường Trúc Bạch"
    code, out, _ = run("show", "admin-units", "00004", "--as-of", "2025-07-01", "--json")
    assert json.loads(out)["name"] == "Phường Ba Đình"
    code, out, _ = run("show", "admin-units", "00004", "--as-of", "2025-07-01",
                       "--at-release", "2", "--json")
    assert json.loads(out)["name"] == "Phường Trúc Bạch"
    code, out, _ = run("history", "admin-units", "00004", "--json")
    assert [h["name"] for h in json.loads(out)] == [
        "Phường Trúc Bạch", "Phường Trúc Bạch", "Phường Ba Đình"]
    code, out, _ = run("lists", "--json")
    assert {d["key"] for d in json.loads(out)} >= {"admin-units", "agencies", "procedures"}
    code, out, _ = run("changesets", "--json")
    assert [c["status"] for c in json.loads(out)] == ["published", "published"]
    code, out, _ = run("verify")
    assert code == 0 and "feed verifies" in out


def test_draft_review_and_publish_from_the_cli(env: Database) -> None:
    code, out, _ = run("import", "changeset", str(EXAMPLES / "hanoi-baseline.json"),
                       "--actor", "steward-a")
    assert code == 0 and "draft" in out
    code, out, _ = run("changeset", "show", "1", "--json")
    assert json.loads(out)["diff"]["summary"] == {"create": 5, "links": 0}
    assert run("changeset", "submit", "1", "--actor", "steward-a")[0] == 0
    code, _, err = run("changeset", "approve", "1", "--actor", "steward-a")
    assert code == 1 and "second person" in err
    assert run("changeset", "approve", "1", "--actor", "approver-b")[0] == 0
    code, out, _ = run("publish", "1", "--actor", "approver-b")
    assert code == 0 and "release 2" in out


def test_dry_run_writes_nothing(env: Database) -> None:
    code, out, _ = run("import", "changeset", str(EXAMPLES / "hanoi-baseline.json"), "--dry-run",
                       "--json")
    assert code == 0 and json.loads(out)["summary"]["create"] == 5
    code, out, _ = run("changesets", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(("args", "message"), [
    (("show", "admin-units", "99"), "'99' has no version"),
    (("show", "nope", "01"), "no code list 'nope'"),
    (("show", "admin-units", "01", "--as-of", "2025-13-01"), "--as-of: '2025-13-01' is not a date"),
    (("resolve", "admin-units", "424242"), "no entry '424242'"),
    (("changeset", "show", "99"), "no change set 99"),
    (("publish", "99"), "no change set 99"),
    (("import", "changeset", "/nonexistent/file.json"), "No such file"),
])
def test_errors_are_one_clear_line_and_non_zero(env: Database, args: tuple[str, ...],
                                                 message: str) -> None:
    code, out, err = run(*args)
    assert code != 0 and message in err and "Traceback" not in err + out


def test_a_refused_publication_lists_problems_and_writes_nothing(env: Database,
                                                                 tmp_path: Path) -> None:
    load_examples()
    bad = json.loads((EXAMPLES / "hanoi-2025.json").read_text("utf-8"))
    bad["operations"] = [{"op": "create", "list": "admin-units", "code": "00004", "name": "X",
                          "type": "Phường", "parent": "01"},
                         {"op": "retire", "list": "admin-units", "code": "01"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), "utf-8")
    code, _, err = run("import", "changeset", str(path), "--publish")
    assert code == 1
    assert "operations[0].code: '00004' already exists" in err
    assert "orphan" not in err or "nothing was written" in err
    assert "nothing was written" in err
    assert len(json.loads(run("changesets", "--json")[1])) == 2


def test_real_process_without_traceback(database: Database, tmp_path: Path) -> None:
    env = {**os.environ, "REGISTRY_DATABASE_URL": database.url}
    broken = tmp_path / "broken.json"
    broken.write_text('{"title": ', "utf-8")
    proc = processes.run([sys.executable, "-m", "registry", "import", "changeset", str(broken)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "broken.json:1:" in proc.stderr and "malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing_db = {**os.environ, "REGISTRY_DATABASE_URL":
                  "postgresql://postgres@127.0.0.1:5432/registry_does_not_exist"}
    proc = processes.run([sys.executable, "-m", "registry", "lists"], capture_output=True,
                          text=True, env=missing_db, timeout=60)
    assert proc.returncode == 1 and "registry_does_not_exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_feed_new_epoch_after_a_restore(env: Database) -> None:
    from sqlalchemy import text

    from registry.db import session_factory, transaction
    from registry.services.feed import read_head

    load_examples()
    with transaction(session_factory(env.engine)) as session:
        before = read_head(session)
    code, _, err = run("feed", "new-epoch")  # without --yes: explains, changes nothing
    assert code == 1 and "--yes" in err
    with transaction(session_factory(env.engine)) as session:
        assert read_head(session) == before
    code, out, _ = run("feed", "new-epoch", "--yes")
    assert code == 0 and f"{before.epoch} → " in out
    with transaction(session_factory(env.engine)) as session:
        after = read_head(session)
    assert after.epoch != before.epoch and len(after.epoch) == 32
    assert (after.seq, after.release, after.hash) == (before.seq, before.release, before.hash)
    # A damaged restore is not renamed: the chain must verify first.
    with env.engine.begin() as conn:
        conn.execute(text("UPDATE feed_records SET record = record || ' ' WHERE seq = 3"))
    code, _, err = run("feed", "new-epoch", "--yes")
    assert code == 1 and "seq 3: hash does not verify" in err
    with transaction(session_factory(env.engine)) as session:
        assert read_head(session).epoch == after.epoch


def test_db_upgrade_says_where_the_schema_went(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    code, out, _ = run("db", "upgrade")
    assert code == 0 and "schema empty → " in out and "published as release 1" in out
    code, out, _ = run("db", "upgrade")
    assert code == 0 and "up to date" in out and "release" not in out


def _resolve_in_a_process(database: Database, *args: str) -> str:
    # A narrow terminal: the answer's lines must still come out whole.
    env = {**os.environ, "REGISTRY_DATABASE_URL": database.url, "COLUMNS": "60"}
    proc = processes.run([sys.executable, "-m", "registry", "resolve", "admin-units", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


def test_resolve_says_when_a_continuing_code_gave_part_of_its_area_away(
    database: Database,
) -> None:
    from registry.db import session_factory, transaction
    from tests.factories import hanoi, publish

    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
        publish(session, [
            {"op": "merge", "list": "admin-units", "sources": ["00004", "00013"],
             "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường",
                        "parent": "001"}},
            {"op": "merge", "list": "admin-units",
             "sources": [{"code": "00004", "kind": "part", "share": 0.2}, "00001"],
             "target": {"code": "00040", "name": "Phường Ngọc Hà", "type": "Phường",
                        "parent": "001"}},
            {"op": "split", "list": "admin-units", "source": "00037", "targets": [
                {"code": "00038", "name": "Phường A", "type": "Phường", "parent": "002",
                 "default": True},
                {"code": "00039", "name": "Phường B", "type": "Phường", "parent": "002"}]},
        ], "2025-07-01")
    assert _resolve_in_a_process(database, "00004", "--as-of", "2025-07-01") == (
        "00004 on 2025-07-01: Phường Ba Đình (Phường), active\n"
        "  default 00004 Phường Ba Đình (Phường) continues\n"
        "          00040 Phường Ngọc Hà (Phường) via part, share 0.2\n"
        "ambiguous: part of its area went to other units on 2025-07-01; an address recorded "
        "before then may now be in one of them\n")
    data = json.loads(_resolve_in_a_process(database, "00004", "--as-of", "2025-08-01",
                                            "--json"))
    assert (data["status"], data["ambiguous"], data["divided_on"], data["ended_on"]) == (
        "active", True, "2025-07-01", None)
    assert [(s["entry"]["code"], s["default"], s["kinds"], s["share"])
            for s in data["successors"]] == [("00004", True, [], None),
                                             ("00040", False, ["part"], 0.2)]
    # Before the change, and for a code that only received area: plainly active.
    assert _resolve_in_a_process(database, "00004", "--as-of", "2025-06-30") == (
        "00004 on 2025-06-30: Phường Trúc Bạch (Phường), active\n")
    # A divided code that ended keeps its answer: every successor, the default first.
    assert _resolve_in_a_process(database, "00037", "--as-of", "2025-07-01") == (
        "00037 (Phường Phúc Tân) ended on 2025-07-01; on 2025-07-01 it is:\n"
        "  default 00038 Phường A (Phường) via part\n"
        "          00039 Phường B (Phường) via part\n"
        "ambiguous: the code was divided; the default is the usual choice, check the address "
        "to be sure\n")
