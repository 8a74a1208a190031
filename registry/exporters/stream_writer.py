"""Writing a table row by row, as CSV, XLSX or JSON lines, into a file that appears whole.

The streaming sibling of :mod:`registry.exporters.writers`. :func:`atomic_output` writes
beside the destination and renames at the end, so that a failure leaves no file, and an old
file stays as it was. Writers take rows in batches (``write_rows``): ``csv.writer.writerows``
over a few thousand rows costs a fraction of a call per row.

The same rows give the same bytes: no writer records when it ran (an XLSX workbook's
timestamps are fixed), so a conversion repeated at the same release is byte-identical.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import operator
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Protocol

FORMATS = ("csv", "xlsx", "json")
SUFFIXES = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".json": "json", ".jsonl": "json",
            ".ndjson": "json"}
XLSX_MAX_ROWS = 1_048_576
# Every entry of a workbook carries this time, and so does its core properties' record.
STABLE_TIME = (1980, 1, 1, 0, 0, 0)
TEXT_BUFFER = 1 << 20


class RowWriter(Protocol):
    """What a converter writes through."""

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write data rows."""

    def write_record(self, record: dict[str, Any]) -> None:
        """Write one extra object (JSON lines only; others ignore it)."""

    def close(self) -> None:
        """Finish the file (flush; an XLSX workbook is assembled here)."""


@contextmanager
def atomic_output(path: Path | None) -> Iterator[IO[bytes]]:
    """A binary stream to ``path`` that appears only when the block ends without error
    (standard output when ``path`` is ``None``: it cannot be taken back)."""
    if path is None:
        import sys

        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # spreadsheets store every number as a float
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


class CsvWriter:
    """UTF-8 CSV; ``bom`` adds the mark Excel needs to read UTF-8. ``typed`` rows (from a
    workbook) have their cells turned into text as :mod:`registry.importers.tabular` reads
    them; text rows go to ``csv.writer`` as they are."""

    def __init__(self, stream: IO[bytes], header: Sequence[str], *, delimiter: str = ",",
                 bom: bool = False, typed: bool = False) -> None:
        if bom:
            stream.write(codecs.BOM_UTF8)
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="",
                                     write_through=False, line_buffering=False)
        self.writer = csv.writer(self.text, delimiter=delimiter, lineterminator="\n")
        self.typed = typed
        self.delimiter = delimiter
        # Rows without their line end, collected instead of written: see write_with_tails.
        self.parts: list[str] = []
        self.bare = csv.writer(_Collect(self.parts), delimiter=delimiter, lineterminator="")
        self.writer.writerow(header)

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write data rows."""
        if self.typed:
            rows = ([_csv_cell(c) for c in row] for row in rows)
        self.writer.writerows(rows)

    def tail(self, cells: Sequence[Any]) -> str:
        """``cells`` encoded once, to follow rows again and again (:meth:`write_with_tails`):
        the delimiter, the cells, the line end."""
        self.parts.clear()
        self.bare.writerow(cells)
        return self.delimiter + self.parts.pop() + "\n"

    def write_with_tails(self, rows: Sequence[Sequence[Any]], tails: Sequence[str]) -> None:
        """Write each row followed by its tail: a table whose added cells repeat is encoded
        once per distinct tail, not once per row."""
        if self.typed:
            rows = [[_csv_cell(c) for c in row] for row in rows]
        parts = self.parts
        parts.clear()
        self.bare.writerows(rows)
        self.text.write("".join(map(operator.add, parts, tails)))
        parts.clear()

    def write_record(self, record: dict[str, Any]) -> None:
        """CSV has no place for it."""

    def close(self) -> None:
        """Flush, and leave the byte stream open to its owner."""
        self.text.flush()
        self.text.detach()


class _Collect:
    """A file for ``csv.writer`` that keeps each row's text in a list."""

    def __init__(self, parts: list[str]) -> None:
        self.write = parts.append


class JsonLinesWriter:
    """One JSON object per line (``rows`` are objects already), UTF-8, keys in the order
    given."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n",
                                     write_through=False)
        self.dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write objects, one per line."""
        dumps = self.dumps
        self.text.writelines(dumps(row) + "\n" for row in rows)

    def write_record(self, record: dict[str, Any]) -> None:
        """Write one more object."""
        self.text.write(self.dumps(record) + "\n")

    def close(self) -> None:
        """Flush, and leave the byte stream open to its owner."""
        self.text.flush()
        self.text.detach()


class _StableZip(zipfile.ZipFile):
    """A ZIP archive whose entries all carry :data:`STABLE_TIME` and fixed permissions,
    so that the same content gives the same bytes."""

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=STABLE_TIME)
        info.compress_type = self.compression
        info.external_attr = 0o644 << 16
        return info

    def writestr(self, zinfo_or_arcname: str | zipfile.ZipInfo, data: Any,
                 compress_type: int | None = None, compresslevel: int | None = None) -> None:
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        else:
            zinfo_or_arcname.date_time = STABLE_TIME
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename: Any, arcname: Any = None, compress_type: int | None = None,
              compresslevel: int | None = None) -> None:
        info = self._info(str(arcname or filename))
        info.file_size = os.path.getsize(filename)
        with open(filename, "rb") as source, self.open(info, "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, TEXT_BUFFER)


class XlsxWriter:
    """One sheet, written as rows come (openpyxl's write-only mode keeps them in a
    temporary file): bold frozen header; ``code_columns`` written as text so that leading
    zeros stay; other cells keep their type (a workbook's numbers stay numbers)."""

    def __init__(self, stream: IO[bytes], header: Sequence[str], code_columns: Iterable[int],
                 *, sheet_title: str = "converted", widths: dict[int, int] | None = None,
                 stamp: datetime | None = None) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self.stream = stream
        self.book = Workbook(write_only=True)
        fixed = stamp or datetime(*STABLE_TIME)
        self.book.properties.created = self.book.properties.modified = fixed
        self.book.properties.creator = "registry"
        self.sheet = self.book.create_sheet(sheet_title[:31])
        self.sheet.freeze_panes = "A2"
        for index, width in (widths or {}).items():
            self.sheet.column_dimensions[get_column_letter(index + 1)].width = width
        self.cell = WriteOnlyCell
        self.codes = sorted(set(code_columns))
        self.rows = 1
        bold = Font(bold=True)
        cells = []
        for name in header:
            cell = WriteOnlyCell(self.sheet, value=name)
            cell.font = bold
            cells.append(cell)
        self.sheet.append(cells)

    def _text(self, value: str) -> Any:
        cell = self.cell(self.sheet, value=value)
        cell.number_format = "@"  # Excel's text format: leading zeros survive editing too
        return cell

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows; a workbook holds at most :data:`XLSX_MAX_ROWS` rows."""
        append = self.sheet.append
        for row in rows:
            self.rows += 1
            if self.rows > XLSX_MAX_ROWS:
                raise OverflowError(f"an XLSX sheet holds at most {XLSX_MAX_ROWS:,} rows; "
                                    "write CSV instead")
            out = [None if v == "" else self._plain(v) if v.__class__ is str and v[0] == "="
                   else v for v in row]
            for index in self.codes:
                if out[index] is not None:
                    out[index] = self._text(str(out[index]))
            append(out)

    def _plain(self, value: str) -> Any:
        # openpyxl makes a formula of any text that starts with "="; text stays text.
        cell = self.cell(self.sheet, value=value)
        cell.data_type = "s"
        return cell

    def write_record(self, record: dict[str, Any]) -> None:
        """A workbook has no place for it."""

    def close(self) -> None:
        """Assemble the workbook into the stream, with fixed timestamps."""
        from openpyxl.writer.excel import ExcelWriter

        with _StableZip(self.stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(self.book, archive).write_data()


def format_of(fmt: str | None, out: Path | None) -> str:
    """The output format: as given, else by the file's suffix, else CSV."""
    if fmt:
        return fmt
    if out is not None:
        return SUFFIXES.get(out.suffix.lower(), "csv")
    return "csv"
