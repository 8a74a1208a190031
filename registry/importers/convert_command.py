"""``registry convert FILE``: a whole table of old codes or addresses to the units of a date.

Read a CSV or XLSX file row by row (:mod:`registry.importers.stream_table`), convert each row
through one :class:`~registry.services.conversion.Gazetteer` loaded once
(:mod:`registry.services.conversion.rows`), and write the input's columns with the answer's
columns added (:mod:`registry.exporters.stream_writer`). Memory does not grow with the rows.

Every problem with the command line, the file or its header is found before the first row is
written; a problem later in the file (a row that does not fit the header) leaves no output
file either: the output appears by a rename when everything went well.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.text import Text

from registry.errors import ValidationError
from registry.exporters.stream_writer import (
    FORMATS,
    CsvWriter,
    JsonLinesWriter,
    RowWriter,
    XlsxWriter,
    atomic_output,
    format_of,
)
from registry.importers.stream_table import StreamTable, open_table
from registry.services.conversion.gazetteer import ADMIN_UNITS, Gazetteer
from registry.services.conversion.rows import (
    ADDED_CODE_COLUMNS,
    ADDED_COLUMNS,
    Mode,
    RowConverter,
    Summary,
    row_record,
)

BATCH = 4096
SHOWN = 20  # rows needing a person listed in the summary
WIDTHS = {"old_code": 9, "old_name": 50, "new_code": 9, "new_name": 24,
          "new_province_code": 9, "new_province_name": 22, "status": 11, "confidence": 10,
          "candidates": 50, "reason": 20, "release": 8}


@dataclass(frozen=True)
class Columns:
    """The columns named on the command line (header names, not yet checked)."""

    code: str | None = None
    address: str | None = None
    commune: str | None = None
    district: str | None = None
    province: str | None = None

    def kind(self) -> str:
        """The conversion mode these options ask for; a one-line error when they do not
        name exactly one."""
        given = [(name, option) for name, option, value in (
            ("code", "--code-column", self.code),
            ("address", "--address-column", self.address),
            ("names", "--commune-column", self.commune)) if value]
        if not given:
            raise ValidationError("", "mode_required", "give --code-column (commune codes), "
                                  "--address-column (free-text addresses) or "
                                  "--commune-column (names, with --district-column and "
                                  "--province-column)")
        if len(given) > 1:
            raise ValidationError("", "one_mode", f"{' and '.join(o for _, o in given)}: "
                                  "give only one way to find the unit")
        kind = given[0][0]
        if kind == "address" and (self.district or self.province):
            raise ValidationError("", "address_alone",
                                  "--district-column and --province-column go with "
                                  "--code-column or --commune-column, not --address-column "
                                  "(the address itself names them)")
        return kind


def find_column(header: tuple[str, ...], name: str, option: str, source: str) -> int:
    """The index of the column ``name`` (exactly, else ignoring case); one-line errors."""
    wanted = name.strip()
    found = [i for i, h in enumerate(header) if h == wanted]
    if not found:
        found = [i for i, h in enumerate(header) if h.casefold() == wanted.casefold()]
    if len(found) > 1:
        raise ValidationError(source, "column_twice",
                              f"the header has the column {wanted!r} twice ({option})")
    if not found:
        listed = ", ".join(repr(h) for h in header[:30] if h)
        raise ValidationError(source, "column", f"has no column {wanted!r} ({option}); its "
                                                f"columns are: {listed}")
    return found[0]


def mode_of(columns: Columns, header: tuple[str, ...], source: str) -> Mode:
    """The mode with column indexes into ``header``."""
    kind = columns.kind()
    indexes: dict[str, int] = {}
    seen: dict[int, str] = {}
    for field, option in (("code", "--code-column"), ("address", "--address-column"),
                          ("commune", "--commune-column"), ("district", "--district-column"),
                          ("province", "--province-column")):
        name = getattr(columns, field)
        if not name:
            continue
        index = find_column(header, name, option, source)
        if index in seen:
            raise ValidationError(option, "distinct", f"names the same column as {seen[index]}")
        seen[index] = option
        indexes[field] = index
    clash = [h for h in header if h in ADDED_COLUMNS]
    if clash:
        raise ValidationError(source, "column_added",
                              f"already has the column {clash[0]!r}, which the conversion "
                              "adds; rename it (or convert the original file)")
    return Mode(kind, **indexes)


@dataclass(frozen=True)
class Output:
    """Where the result goes and how it is written."""

    path: Path | None
    fmt: str
    bom: bool = False


def open_writer(stream: IO[bytes], table: StreamTable, output: Output) -> RowWriter:
    """The writer of ``output.fmt`` with the header written."""
    header = (*table.header, *ADDED_COLUMNS)
    if output.fmt == "json":
        return JsonLinesWriter(stream)
    if output.fmt == "xlsx":
        first = len(table.header)
        widths = {i: min(max(len(h) + 2, 10), 40) for i, h in enumerate(table.header)}
        widths.update({first + i: WIDTHS[name] for i, name in enumerate(ADDED_COLUMNS)})
        codes = [first + i for i, name in enumerate(ADDED_COLUMNS)
                 if name in ADDED_CODE_COLUMNS]
        return XlsxWriter(stream, header, codes, widths=widths)
    delimiter = table.delimiter if not table.spreadsheet else ","
    return CsvWriter(stream, header, delimiter=delimiter, bom=output.bom,
                     typed=table.spreadsheet)


def convert_rows(table: StreamTable, converter: RowConverter, writer: RowWriter, fmt: str,
                 tick: Callable[[int], None] | None = None) -> Summary:
    """Every row of ``table`` through ``converter`` into ``writer``; the summary."""
    with table.reading():
        if isinstance(writer, CsvWriter):
            _to_csv(table, converter, writer, tick)
        else:
            _to_objects(table, converter, writer, fmt == "json", tick)
    summary = converter.summary()
    writer.write_record({"summary": summary.as_dict()})
    writer.close()
    return summary


def _to_csv(table: StreamTable, converter: RowConverter, writer: CsvWriter,
            tick: Callable[[int], None] | None) -> None:
    """The hot path of a million-row file. A row whose input was seen before costs a dict
    lookup; its added cells were encoded once (``Hit.encoded``), and only the input's own
    cells go through the csv writer, in batches."""
    width = len(table.header)
    fit = table.fit
    line = table.line
    index = converter.text_key
    key = converter.key
    cached = converter.cache.get
    slow = converter.hit
    rows: list[list[Any]] = []
    tails: list[str] = []
    for cells in table.records:
        if len(cells) != width or not cells[0]:
            fitted = fit(cells)
            if fitted is None:
                continue  # a blank row
            cells = fitted
        found = cached(cells[index] if index is not None else key(cells))
        if found is None or found.needs_person:
            found = slow(cells, line())
            if not found.encoded:
                found.encoded = writer.tail(found.cells)
        else:
            found.count += 1
        rows.append(cells)
        tails.append(found.encoded)
        if len(rows) >= BATCH:
            writer.write_with_tails(rows, tails)
            rows.clear()
            tails.clear()
            if tick is not None:
                tick(table.position())
    writer.write_with_tails(rows, tails)


def _to_objects(table: StreamTable, converter: RowConverter, writer: RowWriter,
                as_json: bool, tick: Callable[[int], None] | None) -> None:
    """Rows as JSON objects, or as cells for a workbook."""
    header = table.header
    release = converter.release
    batch: list[Any] = []
    for line, cells in table.rows():
        found = converter.hit(cells, line)
        if as_json:
            batch.append(row_record(line, header, cells, found.conversion, release))
        else:
            cells += found.cells
            batch.append(cells)
        if len(batch) >= BATCH:
            writer.write_rows(batch)
            batch.clear()
            if tick is not None:
                tick(table.position())
    writer.write_rows(batch)


@contextmanager
def progress_bar(table: StreamTable, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on standard error when it is a terminal (nothing otherwise)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    from registry.cli.output import err

    unit = "rows" if table.spreadsheet else "bytes"
    with Progress("converting", BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(unit, total=table.size or None)
        yield lambda done: progress.update(task, completed=done)


def run_conversion(path: Path, gazetteer_of: Callable[[], Gazetteer], columns: Columns,
                   output: Output, *, progress: bool = False) -> tuple[Summary, StreamTable]:
    """Read ``path``, convert, write ``output``; nothing is left behind on an error.

    ``gazetteer_of`` is called once the file and its columns are known to be good (loading
    it reads the database).
    """
    with open_table(path) as table:
        mode = mode_of(columns, table.header, table.source)
        gazetteer = gazetteer_of()
        converter = RowConverter(gazetteer, mode, neutralise_cells=output.fmt == "csv",
                                 text_cells=not table.spreadsheet, first_limit=SHOWN)
        with atomic_output(output.path) as stream, progress_bar(table, progress) as tick:
            writer = open_writer(stream, table, output)
            try:
                summary = convert_rows(table, converter, writer, output.fmt, tick)
            except OverflowError as exc:
                raise ValidationError(str(output.path or "output"), "xlsx_rows",
                                      str(exc)) from None
    return summary, table


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def render_summary(summary: Summary, table: StreamTable, output: Output) -> list[str]:
    """The summary for people, as lines (printed on standard error)."""
    counts = ", ".join(f"{status} {n}" for status, n in summary.counts.items())
    source = (f"of {summary.from_date.isoformat()}" if summary.from_date is not None
              else "as each was before its latest change")
    lines = [f"{table.source}: {_rows(summary.rows)} converted at release {summary.release}, "
             f"{summary.list_key} {source} to {summary.to_date.isoformat()}",
             f"  {counts}"]
    if summary.needs_person:
        more = f"; the first {len(summary.first)}" if summary.needs_person > len(
            summary.first) else ""
        verb = "needs" if summary.needs_person == 1 else "need"
        lines.append(f"  {_rows(summary.needs_person)} {verb} a person (ambiguous or not "
                     f"found){more}:")
        for row in summary.first:
            why = f" ({row.reason})" if row.reason else ""
            choices = f": {row.candidates}" if row.candidates else ""
            lines.append(f"    line {row.line}: {row.given or '(empty)'} — {row.status}{why}"
                         f"{choices}")
    else:
        lines.append("  no row needs a person")
    if output.path is not None:
        lines.append(f"  written to {output.path}")
    given = (f"--from-date {summary.from_date.isoformat()} "
             if summary.from_date is not None else "")
    lines.append(f"  to get the same output again: --at-release {summary.release} "
                 f"{given}--to-date {summary.to_date.isoformat()}")
    return lines


def convert_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8, UTF-16 with BOM or "
                                         "Windows-1258) or XLSX file.")],
    code_column: Annotated[str | None, typer.Option(
        "--code-column", help="Column of commune codes (a number a spreadsheet stored gets "
        "its leading zeros back).")] = None,
    address_column: Annotated[str | None, typer.Option(
        "--address-column", help="Column of free-text addresses.")] = None,
    commune_column: Annotated[str | None, typer.Option(
        "--commune-column", help="Column of commune names.")] = None,
    district_column: Annotated[str | None, typer.Option(
        "--district-column", help="Column of district codes (with --code-column) or names "
        "(with --commune-column).")] = None,
    province_column: Annotated[str | None, typer.Option(
        "--province-column", help="Column of province codes (with --code-column) or names "
        "(with --commune-column).")] = None,
    from_date: Annotated[str | None, typer.Option(
        "--from-date", help="The date the data describes, YYYY-MM-DD (default: the day "
        "before the latest reorganisation by --to-date).")] = None,
    to_date: Annotated[str | None, typer.Option(
        "--to-date", help="Convert to the units of this date, YYYY-MM-DD (default: today "
        "in Viet Nam).")] = None,
    at_release: Annotated[int | None, typer.Option(
        "--at-release", help="Answer as release N did (repeat a conversion byte for "
        "byte).")] = None,
    list_key: Annotated[str, typer.Option("--list", help="The code list.")] = ADMIN_UNITS,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write here (default: standard output); written whole or not at "
        "all.")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv, xlsx or json (JSON lines); default: by the --out suffix, "
        "else csv.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines: one object per row, "
                                          "then a summary object.")] = False,
    bom: Annotated[bool, typer.Option("--bom", help="CSV: start with a UTF-8 byte-order "
                                      "mark, for Excel.")] = False,
) -> None:
    """Convert a whole table of old codes or addresses to the units of a date.

    Every row gets its old unit, new unit, status, confidence, candidates, reason and release.

    A summary goes to standard error; the rows to --out, or to standard output.
    """
    from registry.cli.database import unit_of_work
    from registry.cli.output import err
    from registry.errors import RegistryError
    from registry.services.conversion import load_gazetteer
    from registry.services.operations import parse_date

    def fail(message: str) -> None:
        # One line whatever the terminal's width (scripts read it); no markup in names.
        err.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True,
                  highlight=False)
        raise typer.Exit(1)

    columns = Columns(code_column, address_column, commune_column, district_column,
                      province_column)
    try:
        columns.kind()
        day_from = parse_date(from_date, "--from-date") if from_date else None
        day_to = parse_date(to_date, "--to-date") if to_date else None
    except RegistryError as exc:
        fail(exc.message)
    if as_json and fmt not in (None, "json"):
        fail(f"--json and --format {fmt}: give one")
    chosen = format_of("json" if as_json else fmt, out_file)
    if chosen not in FORMATS:
        fail(f"--format must be one of: {', '.join(FORMATS)}")
    if chosen == "xlsx" and out_file is None and sys.stdout.isatty():
        fail("an XLSX workbook is binary: give --out FILE")
    if out_file is not None:
        if not out_file.parent.is_dir():
            fail(f"--out: the directory {str(out_file.parent)!r} does not exist")
        if out_file.exists() and file.exists() and out_file.resolve() == file.resolve():
            fail("--out is the input file: write the result to another file")

    def gazetteer() -> Gazetteer:
        failed: RegistryError | None = None
        with unit_of_work() as session:
            try:
                return load_gazetteer(session, day_from, day_to, at_release, list_key)
            except RegistryError as exc:
                failed = exc  # reported below, in one line, after the read-only transaction
        raise failed

    output = Output(out_file, chosen, bom)
    try:
        summary, table = run_conversion(file, gazetteer, columns, output,
                                        progress=err.is_terminal)
    except RegistryError as exc:
        fail(exc.message)
    except BrokenPipeError:
        fail("standard output was closed before the last row (by head, or a pager?)")
    except OSError as exc:
        fail(f"{exc.filename or out_file or file}: {exc.strerror or exc}")
    for line in render_summary(summary, table, output):
        err.print(line, highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``convert`` to ``app``."""
    app.command("convert")(convert_cmd)
