"""Reading a table from a CSV or XLSX file: a header and rows of cells with line numbers.

CSV bytes go through :func:`registry.importers.decoding.decode_text` (UTF-8 with or
without BOM, UTF-16, Windows-1258, NFC). XLSX cells keep their spreadsheet type, so that a
column reader can tell a code stored as the number 1 from the text "1" and pad it.

Text cells lose the quote our exports put before text a spreadsheet would run as a formula
(:mod:`registry.formulas`), so an export reads back exactly; a cell of a foreign
file that would run as a formula is kept as text and reported in ``Table.warnings``.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from registry.errors import ValidationError
from registry.formulas import foreign_formula, unescape
from registry.importers.decoding import decode_text
from registry.importers.xlsx_guard import check_xlsx_size
from registry.text import check_text

Cell = str | int | float | bool | date | datetime | None
XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Row:
    """One data row: its line in the file (1 is the header) and its cells."""

    line: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    """A header and its rows; ``source`` names the file in messages."""

    source: str
    header: tuple[str, ...]
    rows: list[Row]
    spreadsheet: bool
    warnings: list[str] = field(default_factory=list)


def cell_text(value: Cell) -> str:
    """A cell as NFC text with surrounding blanks removed (``None`` is empty).

    Integral floats lose their ``.0``: spreadsheets store every number as a float.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()


def text_problem(cells: list[Cell], header: tuple[str, ...],
                 columns: Iterable[int]) -> tuple[str, str] | None:
    """The first of ``columns`` whose text breaks the text rules (a control character, a
    lone surrogate), as (rule, reason naming the column); an importer makes it a bad row,
    so the file's line is named instead of the operation it would have become."""
    for index in columns:
        value = cells[index] if index < len(cells) else None
        if isinstance(value, str):
            try:
                check_text(value.strip(), "")  # as read: surrounding blanks go
            except ValidationError as exc:
                column = header[index] if index < len(header) else str(index + 1)
                return exc.rule, f"column '{column}' {exc.detail}"
    return None


def _delimiter(first_line: str) -> str:
    # Vietnamese Excel installs often save CSV with ';' or tabs; the header tells which.
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


MAX_WARNINGS = 20
_QUOTED_OR_FORMULA = frozenset("'=+-@\t\r")


class _Formulas:
    """Undoes our escape in text cells, and notes cells of a foreign file that would run
    as formulas (the first :data:`MAX_WARNINGS`, then a count)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[str] = []
        self.found = 0

    def cell(self, value: Cell, line: int, column: str) -> Cell:
        if not isinstance(value, str) or not value or value[0] not in _QUOTED_OR_FORMULA:
            return value  # nearly every cell: one test of its first character
        if foreign_formula(value):
            self.found += 1
            if self.found <= MAX_WARNINGS:
                self.warnings.append(
                    f"warning: {self.source}:{line}: column '{column}' holds "
                    f"{value[:40]!r}, which a spreadsheet would run as a formula; it is read "
                    "as text")
            return value
        return unescape(value)

    def header(self, cells: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(self.cell(c, 1, f"{i + 1}")) for i, c in enumerate(cells))

    def row(self, header: tuple[str, ...], line: int, cells: tuple[Cell, ...]
            ) -> tuple[Cell, ...]:
        if not any(isinstance(c, str) and c[:1] in _QUOTED_OR_FORMULA for c in cells):
            return cells
        return tuple(self.cell(c, line, header[i] if i < len(header) else f"{i + 1}")
                     for i, c in enumerate(cells))

    def finish(self) -> list[str]:
        if self.found > MAX_WARNINGS:
            self.warnings.append(f"warning: {self.source}: {self.found - MAX_WARNINGS} more "
                                 "cell(s) would run as formulas")
        return self.warnings


def read_csv_text(text: str, source: str) -> Table:
    """Parse decoded CSV text."""
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    header: tuple[str, ...] | None = None
    rows: list[Row] = []
    formulas = _Formulas(source)
    try:
        for cells in reader:
            line = reader.line_num
            if header is None:
                header = formulas.header(tuple(cell_text(c) for c in cells))
                continue
            if not any(c.strip() for c in cells):
                continue  # blank lines carry nothing
            rows.append(Row(line, formulas.row(header, line, tuple(cells))))
    except csv.Error as exc:
        raise ValidationError(f"{source}:{reader.line_num}", "csv", str(exc)) from None
    if header is None:
        raise ValidationError(source, "empty", "the file is empty")
    return Table(source, header, rows, spreadsheet=False, warnings=formulas.finish())


def _cell(value: object) -> Cell:
    # Rich text, formulas and durations are read as their text.
    if value is None or isinstance(value, str | int | float | bool | date | datetime):
        return value
    return str(value)


def _xlsx_rows(data: bytes, source: str) -> Iterator[tuple[int, tuple[Cell, ...]]]:
    check_xlsx_size(io.BytesIO(data), source)  # first: a refusal costs no import
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValidationError(source, "xlsx", f"is not a readable XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, tuple(_cell(v) for v in values)
    finally:
        book.close()


def read_xlsx(data: bytes, source: str) -> Table:
    """Read the first sheet of a workbook; trailing empty cells are dropped."""
    header: tuple[str, ...] | None = None
    rows: list[Row] = []
    formulas = _Formulas(source)
    for line, values in _xlsx_rows(data, source):
        cells = list(values)
        while cells and cell_text(cells[-1]) == "":
            cells.pop()
        if header is None:
            if not cells:
                continue
            header = formulas.header(tuple(cell_text(c) for c in cells))
            continue
        if not cells:
            continue
        rows.append(Row(line, formulas.row(header, line, tuple(cells))))
    if header is None:
        raise ValidationError(source, "empty", "the workbook's first sheet is empty")
    return Table(source, header, rows, spreadsheet=True, warnings=formulas.finish())


def read_table(data: bytes, source: str) -> Table:
    """CSV or XLSX, told apart by content (an XLSX file is a ZIP archive)."""
    if data.startswith(XLSX_MAGIC):
        return read_xlsx(data, source)
    return read_csv_text(decode_text(data, source), source)


def read_table_file(path: Path) -> Table:
    """Read ``path``; an unreadable file is a validation error naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(str(path), "file", exc.strerror or str(exc)) from None
    return read_table(data, path.name)
