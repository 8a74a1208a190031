"""The conversion page: a clerk uploads a table of old codes or addresses and gets it back
converted, with a summary of what needs a person (DESIGN §11).

Nothing is kept: the file is read in memory, converted with the gazetteer of the chosen
dates through the row logic ``registry convert`` uses
(:class:`registry.services.conversion.rows.RowConverter`: the same added columns, the same
cells), and answered as a page holding the summary and the converted table, or directly
as a CSV attachment. A file with more than :data:`MAX_ROWS` rows belongs to the command.
"""

from __future__ import annotations

import base64
import csv
import io
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from registry.config import today
from registry.errors import RegistryError, ValidationError
from registry.importers.tabular import Table, cell_text, read_table
from registry.services.cache import MISSING, ReleaseCache
from registry.services.conversion import Gazetteer, load_gazetteer
from registry.services.conversion.rows import ADDED_COLUMNS, Mode, RowConverter, Summary
from registry.services.queries import latest_release
from registry.text import fold
from registry.web.errors import error_text
from registry.web.i18n import MESSAGES, Translator
from registry.web.plumbing import field as form_field
from registry.web.plumbing import login_redirect
from registry.web.rendering import Web

LIST_KEY = "admin-units"
MODES = ("code", "address")
MAX_ROWS = 100_000
PERSON_ROWS = 200
BOM = "\ufeff"  # Excel reads a CSV without it as the machine's legacy code page
# Header names that usually hold the input, folded: a first guess for the column chooser.
HINTS = {"code": ("ma", "code", "ma xa", "ma_xa", "ma phuong xa", "ma dvhc", "ma_dvhc",
                  "commune_code", "ward_code", "ma don vi hanh chinh"),
         "address": ("dia chi", "dia_chi", "diachi", "address", "dia chi thuong tru",
                     "noi o", "cho o")}

_GAZETTEERS = ReleaseCache(int(os.environ.get("REGISTRY_GAZETTEER_CACHE", "4")))


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
    """A converted table: its summary, its CSV text, and what to call the download."""

    filename: str
    download: str
    summary: Summary
    text: str

    def encoded(self) -> str:
        """The CSV, with its BOM, as base64: the page carries it byte for byte (HTML would
        turn its CRLF line ends into LF)."""
        return base64.b64encode((BOM + self.text).encode("utf-8")).decode("ascii")


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
        return date.fromisoformat(text)
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
        if release.isdigit() and int(release) > 0:
            choices.release = int(release)
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


def read_upload(filename: str, data: bytes, t: Translator) -> Table:
    """The table, or a refusal in the page's language that says what to do."""
    try:
        return read_table(data, filename)
    except ValidationError as exc:
        key = {"encoding": "convert.err.encoding", "empty": "convert.err.empty",
               "xlsx": "convert.err.xlsx", "csv": "convert.err.csv"}.get(exc.rule)
        if key is None:
            raise Refused(error_text(t, exc)) from None
        raise Refused(t(key, file=filename, detail=exc.detail)) from None


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


def _text(value: Any) -> str:
    # CSV cells are the file's own text; a spreadsheet's typed cells are written as text.
    return value if isinstance(value, str) else cell_text(value)


def convert_table(table: Table, column: int, mode: str, found: Gazetteer,
                  t: Translator) -> tuple[str, Summary]:
    """The converted CSV (input columns unchanged, then the added ones) and its summary."""
    width = len(table.header)
    kind = Mode("code", code=column) if mode == "code" else Mode("address", address=column)
    converter = RowConverter(found, kind, neutralise_cells=True, first_limit=PERSON_ROWS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*table.header, *ADDED_COLUMNS])
    for row in table.rows:
        cells = list(row.cells)
        if len(cells) > width:
            extra = next((i for i in range(width, len(cells)) if cell_text(cells[i])), None)
            if extra is not None:
                raise Refused(t("convert.err.extra_cells", line=row.line, n=extra + 1,
                                width=width))
            del cells[width:]
        cells.extend([""] * (width - len(cells)))
        hit = converter.hit(cells, row.line)
        writer.writerow([*map(_text, cells), *hit.cells])
    return out.getvalue(), converter.summary()


def run(web: Web, session: Session, form: FormData, choices: Choices) -> Result:
    """Read, check and convert the uploaded file."""
    t = web.t
    filename, data = _upload(form, t)
    table = read_upload(filename, data, t)
    if len(table.rows) > MAX_ROWS:
        raise Refused(t("convert.err.too_many_rows", rows=len(table.rows), max=MAX_ROWS))
    column = find_column(table.header, choices.column, choices.mode, t)
    choices.values["column"] = table.header[column]
    try:
        found = gazetteer(session, choices, t)
    except ValidationError as exc:
        raise Refused(error_text(t, exc)) from None
    text, summary = convert_table(table, column, choices.mode, found, t)
    stem = PurePath(filename).stem or "table"
    return Result(filename, f"{stem}.converted.csv", summary, text)


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
            (BOM + result.text).encode("utf-8"), media_type="text/csv; charset=utf-8",
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
        header = read_upload(filename, data, web.t).header
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
