"""Reading a CSV or XLSX table row by row, in memory that does not grow with the rows.

The streaming sibling of :mod:`registry.importers.tabular`, with the same rules: CSV bytes
are UTF-8 (with or without BOM), UTF-16 with a BOM, or Windows-1258, read as NFC text, with
the delimiter (``,``, ``;`` or tab) told by the header line; an XLSX file is a ZIP archive
whose first sheet is read through openpyxl's read-only mode, its cells keeping their type so
that a code stored as the number 4 can be told from the text "4".

CSV is read twice: a first pass chooses the encoding over the whole file, as
:func:`registry.importers.decoding.decode_text` does for a file held in memory (a single
byte that is not UTF-8 anywhere makes the file Windows-1258, if it reads as Vietnamese and
not as Latin-1), and finds undecodable bytes before any row is converted; the second pass
parses.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

from registry.errors import ValidationError
from registry.importers.decoding import CODE_PAGE, reads_as_windows_1258
from registry.importers.tabular import XLSX_MAGIC, Cell, cell_text
from registry.importers.xlsx_guard import check_xlsx_size

CHUNK = 1 << 20
OLD_XLS_MAGIC = b"\xd0\xcf\x11\xe0"
DELIMITERS = (",", ";", "\t")


@dataclass
class StreamTable:
    """A header and the records after it.

    ``rows()`` yields ``(line, cells)`` with exactly one cell per header column, skipping
    rows with nothing in them; ``line`` counts physical lines (CSV: the last line of a
    record) or sheet rows (XLSX), the header being 1. A row with a value beyond the header's
    columns is an error.

    A hot loop may read ``records`` itself (the csv reader, no layer of its own): a record
    whose length is the header's and whose first cell is filled is a row as it is; any
    other goes through :meth:`fit`. ``line()`` is the line of the record last read; read
    inside :meth:`reading`, which turns parse errors into :class:`ValidationError`.

    ``cells`` are ``str`` for CSV; for XLSX they keep the spreadsheet's type (``None`` for
    an empty cell). ``size`` is what ``position()`` counts to (bytes, or sheet rows; 0 when
    unknown), for a progress bar.
    """

    source: str
    header: tuple[str, ...]
    spreadsheet: bool
    encoding: str
    delimiter: str
    size: int
    records: Iterator[list[Any]]
    line: Callable[[], int]
    position: Callable[[], int]

    def fit(self, cells: list[Any]) -> list[Any] | None:
        """``cells`` made exactly as long as the header, ``None`` for a blank row."""
        width = len(self.header)
        if len(cells) > width:
            extra = next((i for i in range(width, len(cells)) if cell_text(cells[i])), None)
            if extra is not None:
                raise ValidationError(
                    f"{self.source}:{self.line()}", "columns",
                    f"has a value in column {extra + 1} ({cell_text(cells[extra])[:40]!r}) "
                    f"but the header names {width} columns; give that column a header, or "
                    "quote a value that holds the delimiter")
            del cells[width:]
        if not any(cell_text(c) for c in cells):
            return None
        if len(cells) < width:
            cells.extend([None if self.spreadsheet else ""] * (width - len(cells)))
        return cells

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Parse errors of the records read inside, as one-line validation errors."""
        try:
            yield
        except csv.Error as exc:
            raise ValidationError(f"{self.source}:{self.line()}", "csv", str(exc)) from None

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """Every non-blank row with its line, exactly as wide as the header."""
        width = len(self.header)
        with self.reading():
            for cells in self.records:
                if len(cells) != width or not cells[0]:
                    fitted = self.fit(cells)
                    if fitted is None:
                        continue
                    cells = fitted
                yield self.line(), cells


def _first_error(path: Path, encoding: str) -> int | None:
    """The byte offset of the first byte ``encoding`` cannot decode, or ``None``."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as raw:
        while True:
            chunk = raw.read(CHUNK)
            # The decoder holds back the first bytes of a character split between chunks;
            # the error's position counts from them.
            held = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, not chunk)
            except UnicodeDecodeError as exc:
                return offset - held + exc.start
            if not chunk:
                return None
            offset += len(chunk)


def _nul_at(path: Path) -> int | None:
    """Where the first NUL byte is: text never holds one (UTF-16 without a BOM does)."""
    offset = 0
    with path.open("rb") as raw:
        while chunk := raw.read(CHUNK):
            at = chunk.find(b"\x00")
            if at >= 0:
                return offset + at
            offset += len(chunk)
    return None


def choose_encoding(path: Path, source: str) -> str:
    """The codec of a CSV file: by its BOM, else UTF-8 if the whole file is UTF-8, else
    Windows-1258. Errors name the byte offset where the file stops making sense."""
    with path.open("rb") as raw:
        head = raw.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        bad = _first_error(path, "utf-16")
        if bad is not None:
            raise ValidationError(source, "encoding", f"starts with a UTF-16 byte-order mark "
                                                      f"but is not UTF-16 (byte {bad})")
        return "utf-16"
    nul = _nul_at(path)
    if nul is not None:
        raise ValidationError(source, "encoding", f"contains a NUL byte (byte {nul}): UTF-16 "
                                                  "without a byte-order mark?")
    if head.startswith(codecs.BOM_UTF8):
        bad = _first_error(path, "utf-8-sig")
        if bad is not None:
            raise ValidationError(source, "encoding", f"starts with a UTF-8 byte-order mark "
                                                      f"but is not UTF-8 (byte {bad})")
        return "utf-8-sig"
    not_utf8 = _first_error(path, "utf-8")
    if not_utf8 is None:
        return "utf-8"
    not_cp1258 = _first_error(path, "cp1258")
    if not_cp1258 is None:
        with path.open("rb") as raw:
            if reads_as_windows_1258(iter(partial(raw.read, CHUNK), b"")):
                return "cp1258"
        raise ValidationError(source, CODE_PAGE, f"is not UTF-8 (byte {not_utf8}), and its "
                              "accented letters read differently in Windows-1258 (Vietnamese) "
                              "and ISO-8859-1 (Latin-1) without being clearly Vietnamese; save "
                              "it as UTF-8")
    raise ValidationError(source, "encoding", f"is neither UTF-8 (byte {not_utf8}) nor "
                                              f"Windows-1258 (byte {not_cp1258})")


def _delimiter(first_line: str) -> str:
    # Vietnamese Excel installs often save CSV with ';' or tabs; the header tells which.
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _sheet_records(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[Any]]:
    for values in rows:
        yield [v if v is None or isinstance(v, str | int | float) else _cell(v) for v in values]


def _cell(value: object) -> Cell:
    # Dates stay dates; rich text, formulas and durations are read as their text.
    if value is None or isinstance(value, str | int | float | date):
        return value
    return str(value)


@contextmanager
def open_csv(path: Path, source: str) -> Iterator[StreamTable]:
    """A CSV file as a :class:`StreamTable` (the header already read)."""
    encoding = choose_encoding(path, source)
    size = path.stat().st_size
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        lines = map(partial(unicodedata.normalize, "NFC"), text)
        first = next(lines, None)
        if first is None or not first.strip():
            raise ValidationError(source, "empty", "the file is empty (no header line)")
        delimiter = _delimiter(first)
        reader = csv.reader(chain([first], lines), delimiter=delimiter)
        try:
            header = tuple(cell_text(c) for c in next(reader))
        except csv.Error as exc:
            raise ValidationError(f"{source}:1", "csv", str(exc)) from None
        while header and not header[-1]:
            header = header[:-1]  # separators after the last column name
        if not header:
            raise ValidationError(source, "empty", "the header line names no column")
        yield StreamTable(source, header, False, encoding, delimiter, size, reader,
                          lambda: reader.line_num, raw.tell)


@contextmanager
def open_xlsx(path: Path, source: str) -> Iterator[StreamTable]:
    """The first sheet of a workbook as a :class:`StreamTable`; the header is its first
    row with anything in it."""
    check_xlsx_size(path, source)  # first: a refusal costs no import
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValidationError(source, "xlsx", f"is not a readable XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        size = int(getattr(sheet, "max_row", 0) or 0)
        values = sheet.iter_rows(values_only=True)
        line = 0
        header: tuple[str, ...] = ()
        while not header:
            first = next(values, None)
            if first is None:
                break
            line += 1
            header = tuple(cell_text(_cell(c)) for c in first)
            while header and not header[-1]:
                header = header[:-1]
        if not header:
            raise ValidationError(source, "empty", "the workbook's first sheet is empty")
        counter = _Counter(values, line)
        yield StreamTable(source, header, True, "xlsx", ",", size,
                          _sheet_records(counter), counter.position, counter.position)
    finally:
        book.close()


class _Counter:
    """Rows of a sheet, counting how many were read (the progress of an XLSX file)."""

    def __init__(self, rows: Iterator[tuple[Any, ...]], start: int) -> None:
        self.rows = rows
        self.count = start

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self.rows:
            self.count += 1
            yield row

    def position(self) -> int:
        return self.count


@contextmanager
def open_table(path: Path) -> Iterator[StreamTable]:
    """CSV or XLSX, told apart by content; an unreadable file is an error naming it."""
    source = path.name
    try:
        with path.open("rb") as probe:
            magic = probe.read(4)
    except OSError as exc:
        raise ValidationError(str(path), "file", exc.strerror or str(exc)) from None
    if magic.startswith(OLD_XLS_MAGIC):
        raise ValidationError(source, "format", "is an old .xls workbook; save it as .xlsx "
                                                "or CSV")
    opener = open_xlsx if magic.startswith(XLSX_MAGIC) else open_csv
    with opener(path, source) as table:
        yield table
