"""Exports: the GSO layout for admin units, XLSX typing, JSON with versions and lineage."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.exporters.export import export_list
from registry.importers.gso import HEADER_COMMUNES, HEADER_DISTRICTS
from registry.services import code_lists
from registry.services.actors import SYSTEM
from tests.factories import d, hanoi, publish, unit

REFORM = [{"op": "merge", "list": "admin-units",
           "sources": ["00004", "00013", {"code": "00001", "kind": "part", "default": True}],
           "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường",
                      "parent": "01"}},
          {"op": "move", "list": "admin-units", "code": "00037", "parent": "01"},
          {"op": "retire", "list": "admin-units", "code": "001"},
          {"op": "retire", "list": "admin-units", "code": "002"}]


def rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_admin_units_export_in_the_gso_layout_with_districts(session: Session) -> None:
    hanoi(session)
    publish(session, [unit("31", "Thành phố Hải Phòng", "Thành phố Trung ương"),
                      unit("318", "Huyện Bạch Long Vĩ", "Huyện", "31")])
    result = export_list(session, "admin-units", "csv", d("2025-06-30"))
    assert rows(result.data) == [
        list(HEADER_DISTRICTS),
        ["Thành phố Hà Nội", "01", "Quận Ba Đình", "001", "Phường Phúc Xá", "00001", "Phường",
         ""],
        ["Thành phố Hà Nội", "01", "Quận Ba Đình", "001", "Phường Trúc Bạch", "00004",
         "Phường", ""],
        ["Thành phố Hà Nội", "01", "Quận Ba Đình", "001", "Phường Quán Thánh", "00013",
         "Phường", ""],
        ["Thành phố Hà Nội", "01", "Quận Hoàn Kiếm", "002", "Phường Phúc Tân", "00037",
         "Phường", ""],
        ["Thành phố Hải Phòng", "31", "Huyện Bạch Long Vĩ", "318", "", "", "Huyện", ""],
    ]
    assert result.rows == 5
    assert not result.data.startswith(b"\xef\xbb\xbf")
    assert export_list(session, "admin-units", "csv", d("2025-06-30"), bom=True) \
        .data.startswith(b"\xef\xbb\xbf")


def test_after_the_reform_the_layout_has_no_district_columns(session: Session) -> None:
    hanoi(session)
    publish(session, REFORM, "2025-07-01")
    after = rows(export_list(session, "admin-units", "csv", d("2025-07-01")).data)
    assert after == [list(HEADER_COMMUNES),
                     ["Thành phố Hà Nội", "01", "Phường Ba Đình", "00004", "Phường", ""],
                     ["Thành phố Hà Nội", "01", "Phường Phúc Tân", "00037", "Phường", ""]]
    before = rows(export_list(session, "admin-units", "csv", d("2025-06-30")).data)
    assert before[0] == list(HEADER_DISTRICTS) and len(before) == 5


def test_at_release_exports_what_an_earlier_release_said(session: Session) -> None:
    first = hanoi(session)
    publish(session, [{"op": "correct", "list": "admin-units", "code": "00004",
                       "name": "Phường Trúc Bạch (sửa)"}])
    now = rows(export_list(session, "admin-units", "csv", d("2025-03-01")).data)
    then = rows(export_list(session, "admin-units", "csv", d("2025-03-01"), first).data)
    assert now[2][4] == "Phường Trúc Bạch (sửa)"
    assert then[2][4] == "Phường Trúc Bạch"
    with pytest.raises(ValidationError):
        export_list(session, "admin-units", "csv", d("2025-03-01"), 999)


def test_xlsx_types_codes_as_text_freezes_the_header_and_fits_widths(
    session: Session,
) -> None:
    hanoi(session)
    data = export_list(session, "admin-units", "xlsx", d("2025-03-01")).data
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    assert sheet.title == "admin-units"
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == list(HEADER_DISTRICTS)
    assert all(c.font.bold for c in sheet[1])
    first = sheet[2]
    assert [c.value for c in first[:6]] == ["Thành phố Hà Nội", "01", "Quận Ba Đình", "001",
                                            "Phường Phúc Xá", "00001"]
    for cell in (first[1], first[3], first[5]):
        assert cell.data_type == "s" and cell.number_format == "@"
    assert first[0].number_format != "@"  # names are not codes
    widths = {k: v.width for k, v in sheet.column_dimensions.items()}
    assert widths["A"] >= len("Thành phố Hà Nội") and widths["B"] < widths["A"]
    assert widths["E"] >= len("Phường Quán Thánh")


def _define_ethnic_groups(session: Session) -> None:
    code_lists.define_lists(session, SYSTEM, [{
        "key": "test-groups", "name": "Nhóm", "code_pattern": "^\\d{2}$",
        "levels": [{"key": "group", "types": ["Nhóm"]}],
        "attributes": {"other_names": {"type": "string", "many": True},
                       "population": {"type": "integer"}, "official": {"type": "boolean"},
                       "since": {"type": "date"}}}])


def test_other_lists_export_their_fields_and_one_column_per_attribute(
    session: Session,
) -> None:
    _define_ethnic_groups(session)
    publish(session, [{"op": "create", "list": "test-groups", "code": "01", "name": "Kinh",
                       "type": "Nhóm", "attributes": {"other_names": ["Việt", "Kinh"],
                                                      "population": 82085826,
                                                      "official": True,
                                                      "since": "2008-11-12"}}])
    table = rows(export_list(session, "test-groups", "csv", d("2025-01-01")).data)
    assert table[0] == ["code", "name", "short_name", "name_en", "type", "level", "parent",
                        "status", "valid_from", "valid_to", "other_names", "population",
                        "official", "since"]
    assert table[1] == ["01", "Kinh", "", "", "Nhóm", "group", "", "active", "2025-01-01", "",
                        "Việt; Kinh", "82085826", "true", "2008-11-12"]
    sheet = load_workbook(io.BytesIO(export_list(session, "test-groups", "xlsx",
                                                 d("2025-01-01")).data)).worksheets[0]
    row = sheet[2]
    assert row[0].value == "01" and row[0].number_format == "@"
    assert row[11].value == 82085826 and row[11].data_type == "n"
    assert row[12].value is True
    assert row[8].is_date and row[8].value.date() == d("2025-01-01")


def test_json_carries_full_versions_ended_entries_and_lineage(session: Session) -> None:
    hanoi(session)
    reform = publish(session, REFORM, "2025-07-01")
    doc: dict[str, Any] = json.loads(export_list(session, "admin-units", "json",
                                                 d("2025-07-01")).data)
    assert doc["format"] == "registry-export/1"
    assert doc["list"]["key"] == "admin-units" and doc["list"]["definition"]["levels"]
    assert doc["as_of"] == "2025-07-01" and doc["release"] == reform
    entries = {e["code"]: e for e in doc["entries"]}
    assert set(entries) == {"01", "00004", "00037"}
    ba_dinh = entries["00004"]
    assert ba_dinh["name"] == "Phường Ba Đình" and ba_dinh["valid_from"] == "2025-07-01"
    assert ba_dinh["recorded_release"] == reform and ba_dinh["parent"] == "01"
    assert sorted(ba_dinh["predecessors"]) == ["00001", "00013"]
    ended = {e["code"]: e for e in doc["ended"]}
    assert ended["00013"]["status"] == "retired" and ended["00013"]["successors"] == ["00004"]
    assert ended["00013"]["name"] == "Phường Quán Thánh"
    assert {(lk["from"], lk["to"], lk["kind"]) for lk in doc["links"]} == \
        {("00013", "00004", "whole"), ("00001", "00004", "part")}
    assert "versions" not in doc
    before = json.loads(export_list(session, "admin-units", "json", d("2025-06-30")).data)
    assert before["links"] == [] and before["ended"] == []
    full = json.loads(export_list(session, "admin-units", "json", d("2025-07-01"),
                                  history=True).data)
    assert [(v["valid_from"], v["name"]) for v in full["versions"] if v["code"] == "00004"] \
        == [("2025-01-01", "Phường Trúc Bạch"), ("2025-07-01", "Phường Ba Đình")]


def test_unknown_lists_and_formats_are_refused(session: Session) -> None:
    with pytest.raises(ValidationError):
        export_list(session, "admin-units", "pdf")
    from registry.errors import NotFound

    with pytest.raises(NotFound):
        export_list(session, "no-such-list", "csv")
