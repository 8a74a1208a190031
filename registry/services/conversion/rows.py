"""A table's rows through a :class:`Gazetteer`: the cells a conversion adds, and a summary.

No I/O: readers and writers live at the edges (:mod:`registry.importers.stream_table`,
:mod:`registry.exporters.stream_writer`); the command line, and anything else that converts
a table, share what a row becomes here.

Agencies' tables repeat the same few thousand codes millions of times, so the added cells of
each distinct input are rendered once and reused (:class:`RowConverter`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from registry.errors import ValidationError
from registry.formulas import escape
from registry.services.conversion.gazetteer import Gazetteer
from registry.services.conversion.types import (
    AMBIGUOUS,
    NOT_FOUND,
    STATUSES,
    Conversion,
    Unit,
)

ADDED_COLUMNS = ("old_code", "old_name", "new_code", "new_name", "new_province_code",
                 "new_province_name", "status", "confidence", "candidates", "reason",
                 "release")
# Columns holding codes: a spreadsheet must keep them as text (leading zeros).
ADDED_CODE_COLUMNS = frozenset({"old_code", "new_code", "new_province_code"})
NEEDS_PERSON = frozenset({AMBIGUOUS, NOT_FOUND})
CODE_WIDTH = {"code": 5, "district": 3, "province": 2}
# Distinct inputs whose answers are kept; beyond it (a column of free text, or of junk)
# rows are converted one by one, so that memory stays flat in the number of rows.
CACHE_LIMIT = 100_000
MODES = ("code", "address", "names")


@dataclass(frozen=True)
class Mode:
    """What the input gives and where: column indexes into the header.

    ``code``: ``code`` (and optionally ``district``, ``province`` codes); ``address``:
    ``address``; ``names``: ``commune`` (and optionally ``district``, ``province`` names).
    """

    kind: str
    code: int | None = None
    address: int | None = None
    commune: int | None = None
    district: int | None = None
    province: int | None = None


def full_name(unit: Unit) -> str:
    """The unit with the district and province it lies in: how an address names it."""
    parts = [unit.name]
    if unit.district_name and unit.district_code != unit.code:
        parts.append(unit.district_name)
    if unit.province_name and unit.province_code != unit.code:
        parts.append(unit.province_name)
    return ", ".join(parts)


def candidates_text(conversion: Conversion) -> str:
    """Every candidate of an ambiguous row, the default first and starred.

    The new units the old unit became (one or several), or, when the input fits several
    old units, those (each with its district and province, to tell them apart).
    """
    if conversion.status != AMBIGUOUS:
        return ""
    if conversion.new:
        return "; ".join(f"{c.unit.code} {c.unit.name}{'*' if c.is_default else ''}"
                         for c in conversion.new)
    return "; ".join(f"{u.code} {full_name(u)}" for u in conversion.alternatives)


def added_cells(conversion: Conversion, release: int) -> tuple[str, ...]:
    """The cells of :data:`ADDED_COLUMNS` for one conversion, as text."""
    old = conversion.old
    default = conversion.default
    new = default.unit if default is not None else None
    return (old.code if old else "", full_name(old) if old else "",
            new.code if new else "", new.name if new else "",
            (new.province_code or "") if new else "", (new.province_name or "") if new else "",
            conversion.status, f"{conversion.confidence:.2f}", candidates_text(conversion),
            conversion.reason, str(release))


def code_text(value: Any, kind: str) -> str:
    """A code cell as text; digits a spreadsheet stored as a number (or a CSV saved by one)
    get back the leading zeros the code has (5 for a commune, 3 a district, 2 a province)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float):
        if not value.is_integer():
            return str(value)
        value = int(value)
    text = str(value).strip()
    width = CODE_WIDTH[kind]
    return text.zfill(width) if text.isdigit() and len(text) < width else text


def name_text(value: Any) -> str | None:
    """A text cell, ``None`` when empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, datetime | date):
        value = value.isoformat()
    text = str(value).strip()
    return text or None


@dataclass(slots=True)
class Hit:
    """A distinct input, its conversion, the added cells, whether a person must look at
    it, and how many rows had it. ``encoded`` is free for the writer: the cells in its own
    form, made once (a CSV line's tail)."""

    conversion: Conversion
    cells: tuple[str, ...]
    needs_person: bool
    count: int = 0
    encoded: str = ""


@dataclass
class NeedsPerson:
    """A row to look at: its line, what it gave, and what the conversion says."""

    line: int
    given: str
    status: str
    reason: str
    candidates: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"line": self.line, "input": self.given, "status": self.status,
                "reason": self.reason, "candidates": self.candidates}


@dataclass
class Summary:
    """What a conversion found: counts per status, and the first rows that need a person."""

    release: int
    from_date: date | None  # None: each unit the day before its latest change
    to_date: date
    list_key: str
    rows: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    first: list[NeedsPerson] = field(default_factory=list)

    @property
    def needs_person(self) -> int:
        """Rows that are ``ambiguous`` or ``not_found``."""
        return sum(self.counts[s] for s in NEEDS_PERSON)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"rows": self.rows, "counts": dict(self.counts),
                "needs_person": self.needs_person,
                "first_needing_person": [n.as_dict() for n in self.first],
                "release": self.release,
                "from_date": self.from_date.isoformat() if self.from_date else None,
                "to_date": self.to_date.isoformat(), "list": self.list_key}


class RowConverter:
    """Converts rows of one table in one mode; keeps per-input answers and the summary.

    ``neutralise_cells`` makes the added cells safe for a spreadsheet (CSV output); the
    input's own cells are never touched. ``text_cells`` says every cell is ``str`` (CSV):
    then, with one input column, ``text_key`` is its index and the cell itself is the key.
    """

    def __init__(self, gazetteer: Gazetteer, mode: Mode, *, neutralise_cells: bool = False,
                 text_cells: bool = False, first_limit: int = 20) -> None:
        if mode.kind not in MODES:
            raise ValidationError("mode", "enum", f"unknown conversion mode {mode.kind!r} "
                                                  f"(expected one of: {', '.join(MODES)})")
        self.gazetteer = gazetteer
        self.mode = mode
        self.release = gazetteer.release
        self.neutralise = neutralise_cells
        self.first_limit = first_limit
        self.cache: dict[Any, Hit] = {}
        self.uncached: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self.first: list[NeedsPerson] = []
        self.columns = [c for c in (mode.code, mode.address, mode.commune, mode.district,
                                    mode.province) if c is not None]
        self.text_key = self.columns[0] if text_cells and len(self.columns) == 1 else None
        self.key = self._key_function(text_cells)

    def _key_function(self, text_cells: bool) -> Callable[[Sequence[Any]], Any]:
        """The part of a row the answer depends on, as a hashable key."""
        columns = self.columns
        if len(columns) == 1:
            only = columns[0]
            if text_cells:
                return lambda cells: cells[only]
            return lambda cells: _typed(cells[only])
        if text_cells:
            return lambda cells: tuple([cells[c] for c in columns])
        return lambda cells: tuple([_typed(cells[c]) for c in columns])

    def convert(self, cells: Sequence[Any]) -> Conversion:
        """What the row's input is on the target date (no caching, no counting)."""
        m = self.mode
        if m.kind == "code":
            assert m.code is not None
            code = code_text(cells[m.code], "code")
            if not code:
                return Conversion(NOT_FOUND, 0.0, None, (), "empty")
            district = code_text(cells[m.district], "district") if m.district is not None \
                else None
            province = code_text(cells[m.province], "province") if m.province is not None \
                else None
            return self.gazetteer.convert_code(code, district or None, province or None)
        if m.kind == "address":
            assert m.address is not None
            text = name_text(cells[m.address])
            if text is None:
                return Conversion(NOT_FOUND, 0.0, None, (), "empty")
            return self.gazetteer.convert_address(text)
        assert m.commune is not None
        commune = name_text(cells[m.commune])
        if commune is None:
            return Conversion(NOT_FOUND, 0.0, None, (), "empty")
        return self.gazetteer.convert_names(
            commune, name_text(cells[m.district]) if m.district is not None else None,
            name_text(cells[m.province]) if m.province is not None else None)

    def render(self, conversion: Conversion) -> tuple[str, ...]:
        """The added cells, made safe for a spreadsheet when asked."""
        cells = added_cells(conversion, self.release)
        return tuple(escape(c) for c in cells) if self.neutralise else cells

    def hit(self, cells: Sequence[Any], line: int) -> Hit:
        """The answer for one row, counted in the summary (the hot path: a dict lookup
        for an input seen before)."""
        key = self.key(cells)
        found = self.cache.get(key)
        if found is None:
            conversion = self.convert(cells)
            found = Hit(conversion, self.render(conversion),
                        conversion.status in NEEDS_PERSON)
            if len(self.cache) < CACHE_LIMIT:
                self.cache[key] = found
            else:
                self.uncached[conversion.status] += 1
                self.note(found, cells, line)
                return found
        found.count += 1
        self.note(found, cells, line)
        return found

    def note(self, hit: Hit, cells: Sequence[Any], line: int) -> None:
        """Remember one of the first rows that need a person."""
        if hit.needs_person and len(self.first) < self.first_limit:
            conversion = hit.conversion
            self.first.append(NeedsPerson(line, self.given(cells), conversion.status,
                                          conversion.reason, candidates_text(conversion)))

    def given(self, cells: Sequence[Any]) -> str:
        """What the row gave, as one line of text (for the summary)."""
        return " / ".join(t for t in (name_text(cells[c]) for c in self.columns) if t)

    def summary(self) -> Summary:
        """Counts so far; rows converted uncached are counted as they went."""
        g = self.gazetteer
        counts = dict(self.uncached)
        for found in self.cache.values():
            counts[found.conversion.status] += found.count
        return Summary(self.release, g.from_date, g.to_date, g.list_key,
                       sum(counts.values()), counts, list(self.first))


def _typed(value: Any) -> Any:
    # A spreadsheet's number 4 and text "4" may answer differently (padding rules); True
    # is equal to 1 for a dict. Text, by far the most common, is its own key.
    return value if value.__class__ is str else (value.__class__, value)


def row_record(line: int, header: Sequence[str], cells: Sequence[Any],
               conversion: Conversion, release: int) -> dict[str, Any]:
    """One row as a JSON-ready object: its line, its input cells by column, the answer."""
    given: dict[str, Any] = {}
    for index, name in enumerate(header):
        key = name if name and name not in given else f"column {index + 1}"
        value = cells[index]
        given[key] = value.isoformat() if isinstance(value, date | datetime) else value
    return {"line": line, "input": given, **conversion.as_dict(), "release": release}
