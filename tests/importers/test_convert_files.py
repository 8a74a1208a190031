"""``registry convert`` and the files of the field: encodings, delimiters, workbooks in and
out, cells a spreadsheet would run, and every refusal (one line, nothing written)."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from tests.conftest import Database
from tests.importers.gso_files import to_cp1258
from tests.importers.test_convert_code import (
    ADDED,
    HEADER,
    ROWS,
    convert,
    read_csv,
    reform,
    run,
    sample,
)

TEXT = "\n".join([HEADER, "1,00001,,Số 5 ngõ Hòa Bình - Quán Thánh",
                  '2,00037,,"Tổ 3, phường Phúc Tân"']) + "\n"


def refused(database: Database, tmp_path: Path, *args: str) -> str:
    """Run a conversion expected to fail; check one line, exit 1, and nothing left."""
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run(database, "convert", *args)
    assert done.exit_code == 1, done.output
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary
    return done.stderr.removeprefix("error: ").rstrip("\n")


@pytest.mark.parametrize("encode", [
    lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    lambda text: to_cp1258(text),
    lambda text: text.encode("utf-16"),
    lambda text: unicodedata.normalize("NFD", text).encode("utf-8"),
], ids=["utf-8-bom", "windows-1258", "utf-16", "nfd"])
def test_a_bom_windows_1258_utf_16_or_nfd_file_converts_as_its_utf_8_twin(
    database: Database, tmp_path: Path, encode: Any,
) -> None:
    reform(database)
    plain = tmp_path / "plain.csv"
    plain.write_text(TEXT, encoding="utf-8")
    other = tmp_path / "other.csv"
    other.write_bytes(encode(TEXT))
    convert(database, plain, tmp_path / "plain-out.csv")
    convert(database, other, tmp_path / "other-out.csv")
    assert (tmp_path / "other-out.csv").read_bytes() == (tmp_path / "plain-out.csv").read_bytes()
    rows = read_csv(tmp_path / "other-out.csv")
    assert rows[1]["ghi_chu"] == "Tổ 3, phường Phúc Tân"
    assert rows[1]["candidates"] == "00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam"


def test_a_file_in_no_known_encoding_is_refused_with_the_byte_offsets(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    bad = tmp_path / "bad.csv"
    # \x81 is undefined in Windows-1258; \xc3 followed by "(" is not UTF-8.
    bad.write_bytes(b"id,ma_xa\n1,00001\n2,\xc3(\n3,\x81\n")
    message = refused(database, tmp_path, str(bad), "--code-column", "ma_xa", "--out",
                      str(tmp_path / "out.csv"))
    assert message == "bad.csv: is neither UTF-8 (byte 19) nor Windows-1258 (byte 24)"
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("id,ma_xa\n1,00001\n".encode("utf-16-le"))
    message = refused(database, tmp_path, str(utf16), "--code-column", "ma_xa", "--out",
                      str(tmp_path / "out.csv"))
    assert message == ("utf16.csv: contains a NUL byte (byte 1): UTF-16 without a byte-order "
                       "mark?")


def test_a_missing_column_is_one_line_naming_the_file_the_option_and_the_columns(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    source = sample(tmp_path)
    out = tmp_path / "out.csv"
    message = refused(database, tmp_path, str(source), "--code-column", "ma_phuong_xa",
                      "--out", str(out))
    assert message == ("records.csv: has no column 'ma_phuong_xa' (--code-column); its "
                       "columns are: 'id', 'ma_xa', 'ma_huyen', 'ghi_chu'")
    message = refused(database, tmp_path, str(source), "--code-column", "ma_xa",
                      "--province-column", "tinh", "--out", str(out))
    assert message.startswith("records.csv: has no column 'tinh' (--province-column)")
    # A column is found whatever its case; an earlier result is kept when a run fails.
    convert(database, source, out)
    kept = out.read_bytes()
    refused(database, tmp_path, str(source), "--code-column", "MA_XA", "--district-column",
            "nowhere", "--out", str(out))
    assert out.read_bytes() == kept
    done = run(database, "convert", str(source), "--code-column", "MA_XA", "--out", str(out))
    assert done.exit_code == 0, done.output


def test_a_row_wider_than_the_header_late_in_the_file_leaves_no_output(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    rows = [f"{i},00001,,ok" for i in range(10_000)] + ["x,00004,,Hà Nội,extra"]
    source = sample(tmp_path, rows)
    message = refused(database, tmp_path, str(source), "--code-column", "ma_xa", "--out",
                      str(tmp_path / "out.csv"))
    assert message == ("records.csv:10002: has a value in column 5 ('extra') but the header "
                       "names 4 columns; give that column a header, or quote a value that "
                       "holds the delimiter")


def test_blank_rows_are_skipped_short_rows_padded_and_empty_trailing_cells_dropped(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    source = tmp_path / "ragged.csv"
    source.write_text("id,ma_xa,ma_huyen,ghi_chu,\n1,00001\n\n,,,\n2,00013,001,x,,\n",
                      encoding="utf-8")
    out = tmp_path / "out.csv"
    convert(database, source, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{HEADER},{','.join(ADDED)}"
    assert [line.split(",")[:5] for line in lines[1:]] == [
        ["1", "00001", "", "", "00001"], ["2", "00013", "001", "x", "00013"]]


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --code-column (commune codes), --address-column (free-text addresses) or "
         "--commune-column (names, with --district-column and --province-column)"),
    (["--code-column", "ma_xa", "--address-column", "ghi_chu"],
     "--code-column and --address-column: give only one way to find the unit"),
    (["--address-column", "ghi_chu", "--province-column", "ma_huyen"],
     "--district-column and --province-column go with --code-column or --commune-column, "
     "not --address-column (the address itself names them)"),
    (["--code-column", "ma_xa", "--format", "ods"], "--format must be one of: csv, xlsx, json"),
    (["--code-column", "ma_xa", "--json", "--format", "csv"], "--json and --format csv: give "
                                                              "one"),
    (["--code-column", "ma_xa", "--district-column", "ma_xa"],
     "--district-column: names the same column as --code-column"),
])
def test_a_wrong_command_line_is_one_line(
    database: Database, tmp_path: Path, args: list[str], message: str,
) -> None:
    reform(database)
    source = sample(tmp_path)
    assert refused(database, tmp_path, str(source), *args, "--out",
                   str(tmp_path / "out.csv")) == message


def test_a_missing_output_directory_the_input_as_output_or_a_missing_file_are_refused(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    source = sample(tmp_path)
    missing = tmp_path / "nowhere" / "out.csv"
    assert refused(database, tmp_path, str(source), "--code-column", "ma_xa", "--out",
                   str(missing)) == f"--out: the directory {str(missing.parent)!r} does not exist"
    assert refused(database, tmp_path, str(source), "--code-column", "ma_xa", "--out",
                   str(source)) == "--out is the input file: write the result to another file"
    gone = tmp_path / "gone.csv"
    assert refused(database, tmp_path, str(gone), "--code-column", "ma_xa", "--out",
                   str(tmp_path / "out.csv")) == f"{gone}: No such file or directory"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert refused(database, tmp_path, str(empty), "--code-column", "ma_xa", "--out",
                   str(tmp_path / "out.csv")) == "empty.csv: the file is empty (no header line)"


def test_a_semicolon_file_keeps_its_delimiter_and_added_cells_never_run_as_formulas(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    source = tmp_path / "excel.csv"
    source.write_text("id;ma_xa;ghi_chu\n1;00001;=HYPERLINK(\"x\")\n2;-5;@note\n",
                      encoding="utf-8")
    out = tmp_path / "out.csv"
    done = run(database, "convert", str(source), "--code-column", "ma_xa", "--to-date",
               "2025-07-01", "--out", str(out))
    assert done.exit_code == 0, done.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id;ma_xa;ghi_chu;" + ";".join(ADDED)
    # The input's own cells pass through unchanged (the documented exception).
    assert lines[1].startswith('1;00001;"=HYPERLINK(""x"")";00001;')
    assert lines[2].startswith("2;-5;@note;;;;;;;not_found;0.00;;unknown_code;")


def workbook(path: Path, rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for line in sheet.iter_rows():
        for cell in line:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula, as a clerk typed it
    book.save(path)
    return path


def test_a_workbook_with_codes_stored_as_numbers_converts_to_a_workbook(
    database: Database, tmp_path: Path,
) -> None:
    release = reform(database)
    source = workbook(tmp_path / "records.xlsx", [
        ["id", "ma_xa", "ma_huyen", "ghi_chu", None],
        [1, 1, None, "=not a formula", None],
        [2, 37, None, "divided", None],
        [None, None, None, None, None],
        [3, 13.0, 1, "district as a number", None],
        [4, "99999", None, None, None],
    ])
    out = tmp_path / "converted.xlsx"
    convert(database, source, out)
    sheet = load_workbook(out).worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == ["id", "ma_xa", "ma_huyen", "ghi_chu", *ADDED]
    # The input's cells keep their type: numbers stay numbers; text stays text.
    assert [r[:4] for r in rows[1:]] == [[1, 1, None, "=not a formula"], [2, 37, None,
                                         "divided"], [3, 13, 1, "district as a number"],
                                         [4, "99999", None, None]]
    assert sheet["D2"].data_type == "s"
    added = [dict(zip(ADDED, r[4:], strict=True)) for r in rows[1:]]
    assert [(a["old_code"], a["new_code"], a["status"], a["reason"]) for a in added] == [
        ("00001", "00040", "exact", None), ("00037", "00038", "ambiguous", "divided"),
        ("00013", "00004", "exact", None), (None, None, "not_found", "unknown_code")]
    assert added[1]["candidates"] == "00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam"
    assert {a["release"] for a in added} == {str(release)}
    # Added codes are text cells with Excel's text format: their zeros survive editing.
    assert (sheet["E2"].value, sheet["E2"].data_type, sheet["E2"].number_format) == (
        "00001", "s", "@")
    # The same workbook to CSV: cells as the spreadsheet shows them.
    convert(database, source, tmp_path / "converted.csv")
    csv_rows = read_csv(tmp_path / "converted.csv")
    assert [(r["id"], r["ma_xa"], r["ma_huyen"], r["old_code"]) for r in csv_rows] == [
        ("1", "1", "", "00001"), ("2", "37", "", "00037"), ("3", "13", "1", "00013"),
        ("4", "99999", "", "")]
    assert csv_rows[0]["ghi_chu"] == "=not a formula"


def test_a_csv_converts_to_a_workbook_by_the_out_suffix_and_back(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    source = sample(tmp_path, ROWS)
    out = tmp_path / "out.xlsx"
    convert(database, source, out)
    rows = [[c.value for c in row] for row in load_workbook(out).worksheets[0].iter_rows()]
    assert rows[1][:5] == ["1", "00001", None, "whole into a new ward", "00001"]
    # Read back as input, the workbook gives the CSV's answers.
    again = tmp_path / "again.csv"
    done = run(database, "convert", str(out), "--code-column", "ma_xa", "--to-date",
               "2025-07-01", "--out", str(again))
    assert done.exit_code == 1
    assert "already has the column 'old_code', which the conversion adds" in done.stderr
    assert not again.exists()


def test_an_old_xls_workbook_or_a_broken_xlsx_is_refused(
    database: Database, tmp_path: Path,
) -> None:
    reform(database)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    assert refused(database, tmp_path, str(old), "--code-column", "ma_xa", "--out",
                   str(tmp_path / "o.csv")) == "old.xls: is an old .xls workbook; save it as " \
                                               ".xlsx or CSV"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert refused(database, tmp_path, str(broken), "--code-column", "ma_xa", "--out",
                   str(tmp_path / "o.csv")).startswith(
        "broken.xlsx: is not a readable XLSX workbook")
