"""Hostile change-set and table files: each is refused in one line naming the file (and its
line) and the rule, never with a traceback, and nothing is guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.importers.changeset_file import read_changeset
from registry.importers.csv_generic import plan_csv_import
from registry.importers.decoding import decode_text
from registry.importers.gso import parse_table as parse_gso
from registry.importers.json_input import load_json, too_deep_at
from registry.importers.stream_table import choose_encoding
from registry.importers.tabular import read_table
from registry.models import ChangeSet, FeedRecord
from tests.conftest import Database
from tests.exporters.test_export import _define_ethnic_groups
from tests.factories import d
from tests.importers.gso_files import to_cp1258
from tests.importers.test_changeset_file import GOOD


def _file(tmp_path: Path, text: str | bytes, name: str = "changeset.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _refused(path: Path) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        read_changeset(path)
    assert "\n" not in refused.value.message
    return refused.value


@pytest.mark.parametrize("opener", ["[", "{\"a\":"])
def test_a_file_nested_100_000_deep_is_one_line(tmp_path: Path, opener: str) -> None:
    error = _refused(_file(tmp_path, opener * 100_000))
    assert (error.field, error.rule) == (f"changeset.json:1:{64 * len(opener) + 1}", "depth")
    assert "REGISTRY_MAX_JSON_DEPTH" in error.message


def test_the_depth_limit_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = json.loads(json.dumps(GOOD))
    nested["operations"][0]["attributes"] = {"a": {"b": {"c": {"d": 1}}}}
    path = _file(tmp_path, json.dumps(nested, ensure_ascii=False, indent=1))
    assert read_changeset(path).operations[0]["attributes"] == {"a": {"b": {"c": {"d": 1}}}}
    monkeypatch.setenv("REGISTRY_MAX_JSON_DEPTH", "5")
    error = _refused(path)
    assert error.rule == "depth" and error.field.startswith("changeset.json:")


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"name": "[[[[{{{{\\\"[[[[", "x": ["]]]]"]})
    assert too_deep_at(text, 2) is None
    assert load_json(text, "x.json", 2)["name"] == "[[[[{{{{\\\"[[[["
    assert too_deep_at('"unterminated [[[[', 1) is None


@pytest.mark.parametrize(("text", "key"), [
    ('{"title": "A", "title": "B"}', "title"),
    ('{"operations": [{"op": "create", "name": "A", "name": "B"}]}', "name"),
])
def test_a_repeated_key_is_refused_naming_it(tmp_path: Path, text: str, key: str) -> None:
    error = _refused(_file(tmp_path, text))
    assert (error.field, error.rule) == ("changeset.json", "duplicate_key")
    assert f"'{key}' appears twice" in error.message


def test_nan_and_infinity_are_not_json(tmp_path: Path) -> None:
    text = json.dumps(GOOD, ensure_ascii=False).replace('"Thành lập"', "NaN")
    assert _refused(_file(tmp_path, text)).rule == "json"


LATIN_1 = "Name,City\nSão Tomé,Città così\nÞórshöfn,Ìsola\n"


def test_a_latin_1_file_is_not_read_as_windows_1258(tmp_path: Path) -> None:
    data = LATIN_1.encode("latin-1")
    assert data.decode("cp1258") != LATIN_1  # the old guess would have changed the names
    with pytest.raises(ValidationError) as refused:
        decode_text(data, "cities.csv")
    error = refused.value
    assert (error.field, error.rule) == ("cities.csv", "code_page")
    assert "Windows-1258" in error.message and "ISO-8859-1" in error.message
    with pytest.raises(ValidationError, match="ISO-8859-1"):
        read_table(data, "cities.csv")
    with pytest.raises(ValidationError, match="ISO-8859-1"):
        choose_encoding(_file(tmp_path, data, "cities.csv"), "cities.csv")
    changeset = json.dumps({**GOOD, "title": "São Tomé", "operations": [
        {"op": "create", "list": "admin-units", "code": "01", "name": "Città", "type": "Ìsola"}],
        "legal_basis": {"number": "1", "date": "2025-01-02", "issuer": "Þing"}},
        ensure_ascii=False)
    assert _refused(_file(tmp_path, changeset.encode("latin-1"))).rule == "code_page"


def test_windows_1258_and_what_both_code_pages_read_alike_are_still_read(
        tmp_path: Path) -> None:
    vietnamese = "Tên\nThành phố Hà Nội\nPhường Đồng Xuân\nTỉnh Đắk Lắk\n"
    assert decode_text(to_cp1258(vietnamese)) == vietnamese
    big = to_cp1258(vietnamese * 25_000)  # tone marks across chunk boundaries
    assert choose_encoding(_file(tmp_path, big, "big.csv"), "big.csv") == "cp1258"
    # é and ü mean the same in both: no guess is needed.
    assert decode_text("Müller,Café\n".encode("latin-1")) == "Müller,Café\n"


def test_control_characters_in_a_table_are_bad_rows_naming_line_and_column(
        session: Session) -> None:
    _define_ethnic_groups(session)
    text = ("code,name,type,other_names,ghi_chu\n"
            "01,Kinh,Nhóm,,\"a note\nover two lines\"\n"  # an unread column may hold one
            "02,Tày\x07,Nhóm,,\n"
            "03,Thái,Nhóm,Tai\x9b,\n"
            "04,\tMường ,Nhóm,,\n")  # surrounding blanks are trimmed, as always
    plan = plan_csv_import(session, "test-groups", read_table(text.encode(), "g.csv"),
                           d("2025-01-01"))
    assert [(b.line, b.rule, b.reason) for b in plan.bad] == [
        (4, "control_character", "column 'name' contains the control character U+0007 at "
                                 "character 4; remove it"),
        (5, "control_character", "column 'other_names' contains the control character U+009B "
                                 "at character 4; remove it")]
    assert sorted(op["code"] for op in plan.operations) == ["01", "04"]
    gso = read_table(("Tỉnh Thành Phố,Mã TP,Phường Xã,Mã PX,Cấp,Tên Tiếng Anh\n"
                      "Thành phố Hà Nội,01,Phường\x1bPhúc Xá,00001,Phường,\n").encode(), "gso.csv")
    parsed = parse_gso(gso)
    assert [(b.line, b.rule) for b in parsed.bad] == [(2, "control_character")]
    assert "column 'Phường Xã'" in parsed.bad[0].reason


@pytest.mark.parametrize(("content", "expected"), [
    (json.dumps({**GOOD, "operations": [{**GOOD["operations"][0],  # type: ignore[dict-item]
                                         "name": "Hà\u0000Nội"}]}),
     "operations[0].name: contains the control character U+0000 at character 3; remove it"),
    (json.dumps({**GOOD, "title": "Lập \ud83d"}),
     "title: contains a lone surrogate (U+D83D at character 5), which is not text"),
    (json.dumps({**GOOD, "legal_basis": {**GOOD["legal_basis"],  # type: ignore[dict-item]
                                         "url": "javascript:alert(1)"}}),
     "legal_basis.url: must be an http:// or https:// address of a document"),
    ("[" * 100_000, "changeset.json:1:65: nested more than 64 levels deep "
                    "(REGISTRY_MAX_JSON_DEPTH)"),
])
def test_the_command_line_refuses_in_one_line_and_writes_nothing(
        database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str,
        expected: str) -> None:
    from typer.testing import CliRunner

    from registry.cli import app

    monkeypatch.setenv("REGISTRY_DATABASE_URL", database.url)
    path = _file(tmp_path, content)
    before = _counts(database)
    result = CliRunner().invoke(app, ["import", "changeset", str(path), "--publish"])
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [f"error: {expected}"]
    assert "Traceback" not in result.output
    assert _counts(database) == before


def _counts(database: Database) -> tuple[int, int]:
    with database.engine.connect() as conn:
        return (conn.execute(select(func.count(ChangeSet.id))).scalar_one(),
                conn.execute(select(func.count(FeedRecord.seq))).scalar_one())


def test_a_hostile_list_definition_file_is_one_line(database: Database, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from registry.cli import app

    monkeypatch.setenv("REGISTRY_DATABASE_URL", database.url)
    for content, expected in [
        ("{" + '"a":{' * 100_000, "error: list.json:1:321: nested more than 64 levels deep "
                                  "(REGISTRY_MAX_JSON_DEPTH)"),
        ('{"key": "x", "key": "y"}', "error: list.json: the key 'key' appears twice in one "
                                     "object; a repeated key would silently hide the first "
                                     "value"),
    ]:
        path = _file(tmp_path, content, "list.json")
        result = CliRunner().invoke(app, ["define-lists", str(path)])
        assert result.exit_code != 0
        assert result.stderr.strip().splitlines() == [expected]
