"""The parts of ``registry convert`` on their own: what a row becomes, the streaming reader
and the writers (no database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from registry.errors import ValidationError
from registry.exporters.stream_writer import CsvWriter, atomic_output, format_of
from registry.formulas import escape
from registry.importers.stream_table import open_table
from registry.services.conversion import Gazetteer, Unit
from registry.services.conversion.rows import (
    Mode,
    RowConverter,
    added_cells,
    code_text,
)
from registry.services.queries import Resolution

OLD = Unit("00001", "=Phường Một", "Phường", "commune", "001", "Quận Một", "01", "Tỉnh Một")
NEW = Unit("00001", "+Phường Mới", "Phường", "commune", None, None, "01", "-Tỉnh Mới")


def gazetteer() -> Gazetteer:
    """One ward that continues whole, with names a spreadsheet would take for formulas."""
    answer = Resolution("admin-units", "00001", date(2025, 7, 1), "active", None, None, [])
    return Gazetteer("admin-units", 7, date(2025, 6, 30), date(2025, 7, 1), {"00001": OLD},
                     {"00001": NEW}, {"00001": answer})


def test_added_cells_never_start_a_formula_in_csv_and_stay_plain_otherwise() -> None:
    # The exports' own escape (numbers are harmless and stay numbers).
    assert [escape(t) for t in ("=1+1", "+1", "-1", "-x", "@a", "\tx", "\rx", "Phường")] == [
        "'=1+1", "+1", "-1", "'-x", "'@a", "'\tx", "'\rx", "Phường"]
    safe = RowConverter(gazetteer(), Mode("code", code=0), neutralise_cells=True,
                        text_cells=True)
    hit = safe.hit(["00001"], 2)
    assert hit.cells[:6] == ("00001", "'=Phường Một, Quận Một, Tỉnh Một", "00001",
                             "'+Phường Mới", "01", "'-Tỉnh Mới")
    plain = RowConverter(gazetteer(), Mode("code", code=0))
    assert plain.hit(["00001"], 2).cells == added_cells(hit.conversion, 7)
    assert plain.hit(["00001"], 2).cells[1] == "=Phường Một, Quận Một, Tỉnh Một"


def test_codes_get_back_the_zeros_a_spreadsheet_dropped() -> None:
    assert [code_text(v, "code") for v in (1, 1.0, "37", " 00004 ", "123456", 1.5, None,
                                           True, "A1")] == [
        "00001", "00001", "00037", "00004", "123456", "1.5", "", "", "A1"]
    assert (code_text(1, "district"), code_text("1", "province")) == ("001", "01")


def test_the_summary_counts_every_row_cached_or_not() -> None:
    converter = RowConverter(gazetteer(), Mode("code", code=0), text_cells=True)
    for cells in (["00001"], ["1"], ["00001"], ["nope"], [""]):
        hit = converter.hit(cells, 2)
        assert hit.count >= 1
    summary = converter.summary()
    assert summary.rows == 5
    assert summary.counts == {"exact": 3, "matched": 0, "ambiguous": 0, "not_found": 2}
    assert [(n.given, n.reason) for n in summary.first] == [("nope", "unknown_code"),
                                                            ("", "empty")]
    with pytest.raises(ValidationError, match="unknown conversion mode 'guess'"):
        RowConverter(gazetteer(), Mode("guess"))


def test_the_reader_gives_rows_with_their_lines_and_the_writer_appears_whole(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text('a,b\n1,"two\nlines"\n\n3,\n', encoding="utf-8")
    with open_table(source) as table:
        assert (table.header, table.encoding, table.delimiter) == (("a", "b"), "utf-8", ",")
        assert list(table.rows()) == [(3, ["1", "two\nlines"]), (5, ["3", ""])]
    out = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_output(out) as stream:
        writer = CsvWriter(stream, ("a", "b"))
        writer.write_with_tails([["1"]], [writer.tail(["x"])])
        writer.close()
        raise RuntimeError("a failure after rows were written")
    assert list(tmp_path.iterdir()) == [source]
    with atomic_output(out) as stream:
        writer = CsvWriter(stream, ("a", "b"), delimiter=";")
        writer.write_with_tails([["1"], ["2;3"]], [writer.tail(["x,y"])] * 2)
        writer.close()
    assert out.read_text(encoding="utf-8") == 'a;b\n1;x,y\n"2;3";x,y\n'
    assert [format_of(None, Path(n)) for n in ("a.xlsx", "a.JSONL", "a.txt", "a")] == [
        "xlsx", "json", "csv", "csv"]
    assert format_of("json", Path("a.xlsx")) == "json"
