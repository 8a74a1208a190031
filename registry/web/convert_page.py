"""The conversion page: a clerk uploads a table of old codes or addresses and gets it back
converted, with a summary of what needs a person (DESIGN §11).

Nothing is kept: the file is read in memory, converted with the gazetteer of the chosen
dates through the row logic and the CSV writer ``registry convert`` uses
(:class:`~registry.services.conversion.rows.RowConverter`,
:class:`~registry.exporters.stream_writer.CsvWriter`: the same added columns and cells,
the input's delimiter kept, UTF-8 with the BOM Excel needs, as ``registry convert --bom``
writes), and answered as a page holding the summary and the converted table, or directly
as a CSV attachment. A file with more than :data:`MAX_ROWS` rows belongs to the command.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from registry.config import today
from registry.dates import iso_day
from registry.errors import RegistryError, ValidationError
from registry.exporters.stream_writer import CsvWriter
from registry.importers.decoding import decode_text
from registry.importers.stream_table import DELIMITERS, OLD_XLS_MAGIC
from registry.importers.tabular import XLSX_MAGIC, Table, cell_text, read_csv_text, read_xlsx
from registry.services.cache import MISSING
from registry.services.conversion import Gazetteer, load_gazetteer
from registry.services.conversion.kept import KEPT_GAZETTEERS
from registry.services.conversion.rows import ADDED_COLUMNS, Mode, RowConverter, Summary
from registry.services.queries import latest_release
from registry.text import fold
from registry.web.errors import error_text, values_text
from registry.web.i18n import MESSAGES, Translator
from registry.web.plumbing import field as form_field
from registry.web.plumbing import login_redirect, whole_number
from registry.web.rendering import Web

LIST_KEY = "admin-units"
MODES = ("code", "address")
MAX_ROWS = 100_000
PERSON_ROWS = 200
BATCH = 4096
# Header names that usually hold the input, folded: a first guess for the column chooser.
HINTS = {"code": ("ma", "code", "ma xa", "ma_xa", "ma phuong xa", "ma dvhc", "ma_dvhc",
                  "commune_code", "ward_code", "ma don vi hanh chinh"),
         "address": ("dia chi", "dia_chi", "diachi", "address", "dia chi thuong tru",
                     "noi o", "cho o")}

_GAZETTEERS = KEPT_GAZETTEERS  # shared with GraphQL


@dataclass
class Choices:
    """What the form asked for; ``errors`` maps a field to the messages shown beside it."""

    mode: str = "code"
    column: str = ""
    from_date: date | None = None
    to_date: date | None = None
    release: int | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def refuse(self, name: str, message: str) -> None:
        """Note a problem with field ``name``."""
        self.errors.setdefault(name, []).append(message)


@dataclass
class Result:
    """A converted table: its summary, its CSV bytes, and what to call the download."""

    filename: str
    download: str
    summary: Summary
    data: bytes

    def encoded(self) -> str:
        """The CSV as base64: the page carries it byte for byte (as text in HTML, a CR
        inside a quoted cell would become LF)."""
        return base64.b64encode(self.data).decode("ascii")


@dataclass
class Upload:
    """The table read from an upload, and the delimiter its CSV used (kept in the output)."""

    table: Table
    delimiter: str


class Refused(Exception):
    """The file cannot be converted; ``message`` says why in the page's language."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _day(choices: Choices, form: FormData, name: str, t: Translator) -> date | None:
    text = form_field(form, name)
    choices.values[name] = text
    if not text:
        return None
    try:
        return iso_day(text)
    except ValueError:
        choices.refuse(name, t("error.bad_date"))
        return None


def read_choices(form: FormData, t: Translator) -> Choices:
    """The form's fields, checked one by one."""
    choices = Choices()
    mode = form_field(form, "mode")
    choices.mode = mode if mode in MODES else "code"
    choices.column = form_field(form, "column")
    choices.values.update(mode=choices.mode, column=choices.column)
    choices.from_date = _day(choices, form, "from_date", t)
    choices.to_date = _day(choices, form, "to_date", t)
    release = form_field(form, "release")
    choices.values["release"] = release
    if release:
        number = whole_number(release)
        if number:
            choices.release = number
        else:
            choices.refuse("release", t("convert.err.release_number"))
    if choices.from_date and choices.from_date > (choices.to_date or today()):
        choices.refuse("from_date", t("convert.err.order"))
    return choices


def guess_column(header: tuple[str, ...], mode: str) -> str:
    """The header's column that most likely holds the input, or ``""``."""
    if len(header) == 1:
        return header[0]
    hints = HINTS.get(mode, ())
    for name in header:
        if fold(name).strip() in hints:
            return name
    return ""


def find_column(header: tuple[str, ...], wanted: str, mode: str, t: Translator) -> int:
    """The index of column ``wanted`` (exact name first, then ignoring case and accents)."""
    columns = ", ".join(f"“{h}”" for h in header if h)
    if not wanted:
        guessed = guess_column(header, mode)
        if not guessed:
            raise Refused(t(f"convert.err.choose_{mode}", columns=columns))
        wanted = guessed
    if header.count(wanted) > 1:
        raise Refused(t("convert.err.column_twice", column=wanted))
    if wanted in header:
        return header.index(wanted)
    folded = fold(wanted).strip()
    for index, name in enumerate(header):
        if fold(name).strip() == folded:
            return index
    raise Refused(t("convert.err.missing_column", column=wanted, columns=columns))


def _upload(form: FormData, t: Translator) -> tuple[str, bytes]:
    sent = form.get("file")
    if not isinstance(sent, UploadFile) or not sent.filename:
        raise Refused(t("convert.err.no_file"))
    data = sent.file.read()
    if not data:
        raise Refused(t("convert.err.empty", file=sent.filename))
    return PurePath(sent.filename).name or "upload.csv", data


def _delimiter(first_line: str) -> str:
    # As the readers choose it: the most frequent of , ; and tab in the header line.
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_upload(filename: str, data: bytes, t: Translator) -> Upload:
    """The table, or a refusal in the page's language that says what to do."""
    if data.startswith(OLD_XLS_MAGIC):
        raise Refused(t("convert.err.xls", file=filename))
    try:
        if data.startswith(XLSX_MAGIC):
            table, delimiter = read_xlsx(data, filename), ","
        else:
            text = decode_text(data, filename)
            table, delimiter = read_csv_text(text, filename), _delimiter(text.split("\n", 1)[0])
    except ValidationError as exc:
        key = {"encoding": "convert.err.encoding", "code_page": "convert.err.code_page",
               "empty": "convert.err.empty",
               "xlsx": "convert.err.xlsx", "csv": "convert.err.csv"}.get(exc.rule)
        if key is None:
            raise Refused(error_text(t, exc)) from None
        raise Refused(t(key, file=filename, detail=values_text(exc.detail))) from None
    header = table.header
    while header and not header[-1]:
        header = header[:-1]  # separators after the last column name
    if not header:
        raise Refused(t("convert.err.empty", file=filename))
    return Upload(Table(table.source, header, table.rows, table.spreadsheet), delimiter)


def gazetteer(session: Session, choices: Choices, t: Translator) -> Gazetteer:
    """The snapshot for the chosen dates, kept between uploads until the next publish."""
    head = latest_release(session)
    if choices.release is not None and choices.release > head:
        raise Refused(t("convert.err.release", n=choices.release, latest=head))
    release = choices.release or head
    to_day = choices.to_date or today()
    key = (LIST_KEY, release, choices.from_date, to_day)
    namespace = str(session.get_bind().engine.url)
    found = _GAZETTEERS.get(namespace, head, key)
    if found is not MISSING:
        assert isinstance(found, Gazetteer)
        return found
    loaded = load_gazetteer(session, choices.from_date, to_day, release, LIST_KEY)
    _GAZETTEERS.put(namespace, head, key, loaded)
    return loaded


def convert_table(upload: Upload, column: int, mode: str, found: Gazetteer,
                  t: Translator) -> tuple[bytes, Summary]:
    """The converted CSV (input columns unchanged, then the added ones) and its summary."""
    table = upload.table
    width = len(table.header)
    kind = Mode("code", code=column) if mode == "code" else Mode("address", address=column)
    converter = RowConverter(found, kind, neutralise_cells=True,
                             text_cells=not table.spreadsheet, first_limit=PERSON_ROWS)
    stream = io.BytesIO()
    writer = CsvWriter(stream, (*table.header, *ADDED_COLUMNS), delimiter=upload.delimiter,
                       bom=True, typed=table.spreadsheet)
    batch: list[list[Any]] = []
    for row in table.rows:
        cells = list(row.cells)
        if len(cells) > width:
            extra = next((i for i in range(width, len(cells)) if cell_text(cells[i])), None)
            if extra is not None:
                raise Refused(t("convert.err.extra_cells", line=row.line, n=extra + 1,
                                width=width))
            del cells[width:]
        cells.extend(["" if not table.spreadsheet else None] * (width - len(cells)))
        batch.append([*cells, *converter.hit(cells, row.line).cells])
        if len(batch) >= BATCH:
            writer.write_rows(batch)
            batch.clear()
    writer.write_rows(batch)
    writer.close()
    return stream.getvalue(), converter.summary()


def run(web: Web, session: Session, form: FormData, choices: Choices) -> Result:
    """Read, check and convert the uploaded file."""
    t = web.t
    filename, data = _upload(form, t)
    upload = read_upload(filename, data, t)
    header = upload.table.header
    if len(upload.table.rows) > MAX_ROWS:
        raise Refused(t("convert.err.too_many_rows", rows=len(upload.table.rows),
                        max=MAX_ROWS))
    clash = [h for h in header if h in ADDED_COLUMNS]
    if clash:
        raise Refused(t("convert.err.column_added", column=clash[0]))
    column = find_column(header, choices.column, choices.mode, t)
    choices.values["column"] = header[column]
    try:
        found = gazetteer(session, choices, t)
    except ValidationError as exc:
        raise Refused(error_text(t, exc)) from None
    if choices.mode == "address":
        _ = found.matcher  # built on the kept snapshot, so that the next upload finds it
    converted, summary = convert_table(upload, column, choices.mode, found, t)
    stem = PurePath(filename).stem or "table"
    return Result(filename, f"{stem}.converted.csv", summary, converted)


def _private(response: Response) -> Response:
    # The answer holds the clerk's data: no cache may keep it.
    response.headers["cache-control"] = "no-store"
    return response


def render(web: Web, choices: Choices | None = None, result: Result | None = None,
           error: str | None = None, status: int = 200) -> Response:
    """The page: the form, and the problem or the result."""
    choices = choices or Choices(values={"mode": "code"})
    return _private(web.render(
        "convert.html", status, choices=choices, result=result, error=error,
        modes=MODES, max_rows=MAX_ROWS, person_rows=PERSON_ROWS,
        reason=lambda code: reason_text(web.t, code)))


def reason_text(t: Translator, reason: str) -> str:
    """A reason code in the reader's words (an unknown one as it is); a combined one
    (``abbreviation+no_district``) part by part."""
    parts = []
    for part in reason.split("+") if reason else ():
        key = f"convert.reason.{part}"
        parts.append(t(key) if key in MESSAGES else part)
    return "; ".join(parts)


def page(web: Web, session: Session) -> Response:
    """GET: the form."""
    return render(web)


def convert(web: Web, session: Session, form: FormData) -> Response:
    """POST: convert the file; answer the page, or the CSV itself (``output=csv``)."""
    if not web.can_read():
        return login_redirect(web)
    choices = read_choices(form, web.t)
    if choices.errors:
        return render(web, choices, error=web.t("convert.err.fields"), status=400)
    try:
        result = run(web, session, form, choices)
    except Refused as refused:
        return render(web, choices, error=refused.message, status=refused.status)
    except RegistryError as exc:
        return render(web, choices, error=error_text(web.t, exc), status=exc.http_status)
    if form_field(form, "output") == "csv":
        return _private(Response(
            result.data, media_type="text/csv; charset=utf-8",
            headers={"content-disposition": _attachment(result.download)}))
    return render(web, choices, result=result)


def columns(web: Web, session: Session, form: FormData) -> Response:
    """POST (htmx, on choosing a file): the file's columns, to pick the input from."""
    if not web.can_read():
        return login_redirect(web)
    mode = form_field(form, "mode")
    mode = mode if mode in MODES else "code"
    wanted = form_field(form, "column")
    header: tuple[str, ...] = ()
    chosen = ""
    error = None
    try:
        filename, data = _upload(form, web.t)
        header = read_upload(filename, data, web.t).table.header
        chosen = header[find_column(header, wanted, mode, web.t)]
    except Refused as refused:
        # No guess is not a problem yet: the clerk is about to choose.
        error = refused.message if wanted or not header else None
    # 200 even for an unreadable file: htmx swaps only successful answers in.
    return _private(web.render("convert_columns.html", header=[h for h in header if h],
                               error=error, chosen=chosen, wanted=wanted))


def _attachment(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    ascii_name = ascii_name.replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
