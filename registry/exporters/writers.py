"""Writing a table as CSV or XLSX bytes.

Text that a spreadsheet would run as a formula is escaped (:mod:`registry.formulas`)
in both formats, and workbook text is written as text, never as a formula.
"""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date, datetime

from registry.exporters.tables import Cell, TableOut
from registry.formulas import escape

MAX_WIDTH = 60


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(escape(value)) if isinstance(value, str) else str(value)


def write_csv(table: TableOut, bom: bool = False) -> bytes:
    """UTF-8 CSV with a header row; ``bom`` adds the mark Excel needs to read UTF-8."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([escape(name) for name in table.header])
    writer.writerows([_csv_cell(c) for c in row] for row in table.rows)
    data = buffer.getvalue().encode("utf-8")
    return codecs.BOM_UTF8 + data if bom else data


def _width(value: Cell) -> int:
    if value is None:
        return 0
    if isinstance(value, date):
        return 10
    return len(str(value))


def write_xlsx(table: TableOut, sheet_title: str = "data") -> bytes:
    """A workbook with one sheet: bold frozen header, code columns typed as text, dates as
    dates, numbers as numbers, and column widths that fit the longest value."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title[:31])
    sheet.freeze_panes = "A2"
    codes = set(table.code_columns())
    widths = [len(h) for h in table.header]
    for row in table.rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], _width(value))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(width + 2, MAX_WIDTH)
    bold = Font(bold=True)
    header = []
    for name in table.header:
        cell = WriteOnlyCell(sheet, value=escape(name))
        cell.data_type = "s"
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        out: list[object] = []
        for i, value in enumerate(row):
            if value is None or value == "":
                out.append(None)
            elif i in codes:
                # "@" is Excel's text format: typing into the cell keeps leading zeros too.
                cell = WriteOnlyCell(sheet, value=escape(str(value)))
                cell.number_format = "@"
                cell.data_type = "s"
                out.append(cell)
            elif isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=datetime(value.year, value.month, value.day))
                cell.number_format = "yyyy-mm-dd"
                out.append(cell)
            elif isinstance(value, str):
                # openpyxl makes a formula of text that begins with "=": force text.
                cell = WriteOnlyCell(sheet, value=escape(value))
                cell.data_type = "s"
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
