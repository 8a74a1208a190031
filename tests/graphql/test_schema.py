"""The SDL is a contract: the checked-in file must match the schema."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from registry.cli import app
from registry.graphql.commands import SCHEMA_FILE, schema_sdl


def test_checked_in_sdl_matches_the_schema() -> None:
    assert SCHEMA_FILE.read_text("utf-8") == schema_sdl(), (
        "the schema changed: review the change, then run "
        "'registry graphql-schema --output registry/graphql/schema.graphql'")


def test_cli_prints_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["graphql-schema"])
    assert printed.exit_code == 0 and printed.stdout == schema_sdl()
    target = tmp_path / "schema.graphql"
    assert runner.invoke(app, ["graphql-schema", "--output", str(target)]).exit_code == 0
    assert runner.invoke(app, ["graphql-schema", "--check", "--output", str(target)]).exit_code == 0
    target.write_text(schema_sdl().replace("type Query {", "type Query {\n  drift: Int"), "utf-8")
    drifted = runner.invoke(app, ["graphql-schema", "--check", "--output", str(target)])
    assert drifted.exit_code == 1
    assert "differs" in drifted.output


def test_sdl_has_the_contract() -> None:
    sdl = schema_sdl()
    for needle in ("interface Entry implements Node", "type AdministrativeUnit implements Entry",
                   "type Agency implements Entry", "type Procedure implements Entry",
                   "type GenericEntry implements Entry",
                   "union ChangeSetResult = ChangeSetPayload | ValidationError | "
                   "PermissionDenied | NotFound | Conflict",
                   "  node(\n    id: ID!", "asOf: Date", "atRelease: Int", "first: Int!"):
        assert needle in sdl, needle
