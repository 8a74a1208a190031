"""A locality proposes from the command line with its token (``--token``), checked exactly
as the API checks it; the centre comments, sends back, adopts (issue: proposals)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from registry.cli import app
from registry.db import session_factory, transaction
from registry.models import ChangeSet, ChangeSetComment
from registry.services import tokens
from registry.services.actors import SYSTEM
from tests.conftest import Database
from tests.factories import hanoi, publish, unit

Cli = Callable[..., Any]


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database.url)
    monkeypatch.delenv("REGISTRY_TOKEN", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.fixture
def secrets(database: Database) -> dict[str, str]:
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
        publish(session, [unit("02", "Tỉnh Hà Giang", "Tỉnh"),
                          unit("024", "Huyện Đồng Văn", "Huyện", "02")])
        return {name: tokens.create_token(session, SYSTEM, name, role, scope=scope).secret
                for name, role, scope in (("hn", "proposer", "01"),
                                          ("central", "steward", None),
                                          ("approver", "approver", None))}


def _file(tmp_path: Path, ops: list[dict[str, Any]]) -> str:
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps({
        "title": "Đề xuất đổi tên phường", "effective_date": "2025-07-01",
        "legal_basis": {"number": "12/NQ-HĐND", "date": "2025-06-01",
                        "issuer": "HĐND Thành phố Hà Nội"},
        "operations": ops}, ensure_ascii=False), "utf-8")
    return str(path)


RENAME = {"op": "rename", "list": "admin-units", "code": "00004", "name": "Phường Trúc Bạch Mới"}
OUTSIDE = {"op": "rename", "list": "admin-units", "code": "024", "name": "Huyện Đồng Văn Mới"}


def _count(database: Database, model: Any) -> int:
    with session_factory(database.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_proposal_round_trip_from_the_command_line(cli: Cli, secrets: dict[str, str],
                                                     database: Database,
                                                     tmp_path: Path) -> None:
    before = _count(database, ChangeSet)
    refused = cli("import", "changeset", _file(tmp_path, [RENAME, OUTSIDE]),
                  "--token", secrets["hn"])
    assert refused.exit_code == 1
    assert refused.output.splitlines() == [
        "error: operations[1]: 'rename' touches '024', which is not within admin-units:01 "
        "on 2025-07-01", "nothing was written"]
    assert _count(database, ChangeSet) == before
    made = cli("import", "changeset", _file(tmp_path, [RENAME]), "--token", secrets["hn"])
    assert made.exit_code == 0, made.output
    cs = made.output.split()[2]
    assert cli("changeset", "submit", cs, "--token", secrets["hn"]).exit_code == 0
    # A proposer cannot approve, nor publish.
    denied = cli("changeset", "approve", cs, "--token", secrets["hn"])
    assert denied.exit_code == 1 and "needs the role approver" in denied.output
    # The centre's queue, a comment, a send-back.
    queue = json.loads(cli("changesets", "--proposals", "--json").output)
    assert [(q["id"], q["status"], q["proposal_scope"]) for q in queue] == [
        (int(cs), "submitted", "admin-units:01")]
    commented = cli("changeset", "comment", cs, "Thiếu số nghị quyết?", "--token",
                    secrets["central"])
    assert commented.exit_code == 0 and commented.output.startswith("comment ")
    back = cli("changeset", "request-changes", cs, "--comment", "Bổ sung căn cứ.",
               "--token", secrets["central"])
    assert back.output.strip() == f"change set {cs} sent back to its author as a draft"
    mine = json.loads(cli("changesets", "--mine", "--token", secrets["hn"], "--json").output)
    assert [(m["id"], m["status"], m["comments"]) for m in mine] == [(int(cs), "draft", 2)]
    assert mine[0]["last_comment"]["body"] == "Bổ sung căn cứ."
    assert "Bổ sung căn cứ." in cli("changesets", "--mine", "--token", secrets["hn"]).output
    shown = json.loads(cli("changeset", "show", cs, "--json").output)
    assert [e["action"] for e in shown["events"]] == ["create", "submit", "request_changes"]
    assert [(c["author"], c["body"]) for c in shown["comments"]] == [
        ("central", "Thiếu số nghị quyết?"), ("central", "Bổ sung căn cứ.")]
    assert shown["proposal_scope"] == "admin-units:01"
    replied = cli("changeset", "comment", cs, "Đã bổ sung.", "--reply-to",
                  str(shown["comments"][0]["id"]), "--token", secrets["hn"])
    assert replied.exit_code == 0, replied.output
    text = cli("changeset", "show", cs).output
    assert "a locality's proposal (admin-units:01)" in text
    assert "  central" in text and "    hn" in text and "Đã bổ sung." in text
    # Amended and submitted again, approved and published by the centre.
    assert cli("changeset", "submit", cs, "--token", secrets["hn"]).exit_code == 0
    assert cli("changeset", "approve", cs, "--token", secrets["approver"]).exit_code == 0
    published = cli("publish", cs, "--token", secrets["approver"])
    assert published.exit_code == 0, published.output
    mine = json.loads(cli("changesets", "--mine", "--token", secrets["hn"], "--json").output)
    assert mine[0]["status"] == "published" and mine[0]["release"] > 0
    assert _count(database, ChangeSetComment) == 3


def test_a_table_import_is_checked_against_the_token_too(
        cli: Cli, secrets: dict[str, str], database: Database, tmp_path: Path) -> None:
    table = tmp_path / "units.csv"
    table.write_text("code,name,type,parent\n00046,Phường Mới,Phường,001\n"
                     "025,Huyện Mới,Huyện,02\n", "utf-8")
    before = _count(database, ChangeSet)
    refused = cli("import", "csv", "admin-units", str(table), "--effective", "2025-07-01",
                  "--decision", "1/NQ", "--decision-date", "2025-06-01", "--issuer", "HĐND",
                  "--token", secrets["hn"])
    assert refused.exit_code == 1, refused.output
    assert refused.output.splitlines() == [
        "error: operations[1]: 'create' touches '02', which is not within admin-units:01 on "
        "2025-07-01", "nothing was written"]  # a new unit is judged by its parent
    assert _count(database, ChangeSet) == before


@pytest.mark.parametrize(("args", "message"), [
    (["changesets", "--mine"], "error: token: --mine needs --token (or REGISTRY_TOKEN): "
                               "whose change sets?"),
    (["changesets", "--mine", "--token", "rgt_nope"],
     "error: the API token is unknown or revoked"),
    (["changeset", "submit", "1", "--token", "{hn}", "--actor", "someone"],
     "error: actor: --actor names the system administrator; with --token the token's "
     "holder acts"),
    (["changeset", "comment", "999", "x", "--token", "{central}"],
     "error: no change set 999"),
    (["token", "create", "--name", "q", "--role", "proposer"],
     "error: scope: a proposer needs a scope: a province (e.g. 15) or a list"),
    (["token", "create", "--name", "q", "--role", "proposer", "--scope", "77"],
     "error: scope: no unit '77' in admin-units today"),
    (["token", "create", "--name", "q", "--role", "steward", "--scope", "01"],
     "error: scope: only a proposer has a scope"),
])
def test_refusals(cli: Cli, secrets: dict[str, str], database: Database, args: list[str],
                  message: str) -> None:
    before = (_count(database, ChangeSet), _count(database, ChangeSetComment))
    result = cli(*[a.format(**secrets) for a in args])
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert (_count(database, ChangeSet), _count(database, ChangeSetComment)) == before
