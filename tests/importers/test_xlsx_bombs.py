"""An XLSX file that unpacks to more than the limit is refused before it is parsed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from registry.errors import ValidationError
from registry.importers.stream_table import open_table
from registry.importers.tabular import read_table

LIMIT = 1_000_000


def _bomb() -> bytes:
    """A real workbook whose one sheet holds 40,000 rows of the same long text: a few
    kilobytes packed, megabytes unpacked."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(["code", "name"])
    for _ in range(40_000):
        sheet.append(["00001", "Phường " + "x" * 40])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _never_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the workbook was opened")

    monkeypatch.setattr("openpyxl.load_workbook", refuse)


def test_a_workbook_over_the_limit_is_refused_unparsed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _bomb()
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        unpacked = sum(part.file_size for part in book.infolist())
    assert len(data) < 400_000 < LIMIT < unpacked
    # Within the default limit the same workbook reads.
    assert len(read_table(data, "big.xlsx").rows) == 40_000
    monkeypatch.setenv("REGISTRY_MAX_XLSX_UNCOMPRESSED_BYTES", str(LIMIT))
    _never_parsed(monkeypatch)
    with pytest.raises(ValidationError) as refused:
        read_table(data, "big.xlsx")
    error = refused.value
    assert (error.field, error.rule) == ("big.xlsx", "xlsx_size")
    assert error.message == (f"big.xlsx: unpacks to {unpacked:,} bytes, more than the "
                             f"{LIMIT:,} allowed (REGISTRY_MAX_XLSX_UNCOMPRESSED_BYTES); split "
                             "the workbook or save the sheet as CSV")
    path = tmp_path / "big.xlsx"
    path.write_bytes(data)
    with pytest.raises(ValidationError, match="REGISTRY_MAX_XLSX_UNCOMPRESSED_BYTES"), \
            open_table(path):
        pass


def test_a_deflate_bomb_in_a_zip_is_refused_by_its_stated_sizes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MAX_XLSX_UNCOMPRESSED_BYTES", str(LIMIT))
    _never_parsed(monkeypatch)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
        for _ in range(8):
            sheet.write(b" " * (1 << 20))
    assert len(buffer.getvalue()) < 50_000
    with pytest.raises(ValidationError, match="unpacks to 8,388,608 bytes"):
        read_table(buffer.getvalue(), "bomb.xlsx")
