"""The statistics office's administrative-unit export (CSV or XLSX) as the units it lists.

Two layouts, told apart by the header, which must be exact:

* with districts (before the 2025 reform):
  ``Tỉnh Thành Phố,Mã TP,Quận Huyện,Mã QH,Phường Xã,Mã PX,Cấp,Tên Tiếng Anh``;
* without (after it): ``Tỉnh Thành Phố,Mã TP,Phường Xã,Mã PX,Cấp,Tên Tiếng Anh``.

One row per commune; a district without communes has a row with empty commune columns and
its own type in ``Cấp``. Types: a province whose name starts with "Thành phố" is a
"Thành phố Trung ương", any other a "Tỉnh"; a district's type is its name's prefix; a
commune's type is ``Cấp``. Every bad row is reported with its line and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from registry.errors import ValidationError
from registry.importers.plans import BadLine
from registry.importers.tabular import (
    Cell,
    Row,
    Table,
    cell_text,
    read_table_file,
    text_problem,
)

HEADER_DISTRICTS = ("Tỉnh Thành Phố", "Mã TP", "Quận Huyện", "Mã QH", "Phường Xã", "Mã PX",
                    "Cấp", "Tên Tiếng Anh")
HEADER_COMMUNES = ("Tỉnh Thành Phố", "Mã TP", "Phường Xã", "Mã PX", "Cấp", "Tên Tiếng Anh")
LAYOUTS = {"districts": HEADER_DISTRICTS, "communes": HEADER_COMMUNES}

PROVINCE_TYPES = ("Thành phố Trung ương", "Tỉnh")
# Longest first, so that "Thành phố" is tried before a shorter prefix could match.
DISTRICT_PREFIXES = ("Thành phố", "Thị xã", "Quận", "Huyện")
COMMUNE_TYPES = ("Xã", "Phường", "Thị trấn", "Đặc khu")
WIDTHS = {"province": 2, "district": 3, "commune": 5}
NAME_PREFIXES = ("Thành phố", "Thị trấn", "Thị xã", "Đặc khu", "Phường", "Huyện", "Quận",
                 "Tỉnh", "Xã")
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Unit:
    """One administrative unit as the file states it."""

    code: str
    name: str
    type: str
    level: str
    parent: str | None
    name_en: str | None
    line: int


@dataclass
class GsoFile:
    """The units of a file (provinces, then districts, then communes) and its bad rows."""

    source: str
    layout: str
    rows: int
    units: dict[str, Unit] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def provinces(self) -> list[str]:
        """Codes of the provinces the file names."""
        return [u.code for u in self.units.values() if u.level == "province"]

    def counts(self) -> dict[str, int]:
        """Units per level."""
        out: dict[str, int] = {}
        for unit in self.units.values():
            out[unit.level] = out.get(unit.level, 0) + 1
        return out


def short_name(name: str) -> str:
    """The name without its type prefix ("Phường Phúc Xá" → "Phúc Xá").

    Numbered units keep their whole name ("Phường 5"): "5" alone names nothing.
    """
    for prefix in NAME_PREFIXES:
        if name.startswith(prefix + " "):
            rest = name[len(prefix) + 1:].strip()
            return name if not rest or rest.isdigit() else rest
    return name


def province_type(name: str) -> str:
    """"Thành phố …" at province level is a centrally governed city; anything else a Tỉnh."""
    return "Thành phố Trung ương" if name.startswith("Thành phố ") else "Tỉnh"


def district_type(name: str) -> str | None:
    """The district type read from the name's prefix, or ``None``."""
    for prefix in DISTRICT_PREFIXES:
        if name.startswith(prefix + " "):
            return prefix
    return None


class RowError(Exception):
    """A bad row, raised inside the row reader and collected by :func:`parse_table`."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


def read_code(value: Cell, column: str, level: str) -> str:
    """A code with its leading zeros: a spreadsheet's 1 is "01" in ``Mã TP``."""
    width = WIDTHS[level]
    text = cell_text(value)
    if isinstance(value, float) and not value.is_integer():
        raise RowError("code", f"{column} '{text}' is not a code of {width} digits")
    if not _DIGITS.fullmatch(text):
        raise RowError("code", f"{column} '{text}' is not a code of {width} digits")
    if len(text) > width:
        raise RowError("code", f"{column} '{text}' has more than {width} digits")
    return text.zfill(width)


def check_header(table: Table) -> str:
    """The layout named by the header; anything but an exact GSO header is refused."""
    header = tuple(h.strip() for h in table.header)
    for layout, expected in LAYOUTS.items():
        if header == expected:
            return layout
    raise ValidationError(
        f"{table.source}:1", "header",
        "is not a statistics-office header; expected\n  " + ",".join(HEADER_DISTRICTS)
        + "\nor (after the 2025 reform)\n  " + ",".join(HEADER_COMMUNES)
        + "\ngot\n  " + ",".join(header))


class _Reader:
    """Collects units across rows and checks that repeated units agree."""

    def __init__(self, spreadsheet: bool) -> None:
        self.spreadsheet = spreadsheet
        self.seen: dict[str, dict[str, Unit]] = {"province": {}, "district": {}, "commune": {}}

    def _check(self, unit: Unit) -> None:
        first = self.seen[unit.level].get(unit.code)
        if first is None:
            return
        if unit.level == "commune":
            raise RowError("duplicate", f"commune {unit.code} is listed again "
                                        f"(first on line {first.line})")
        if first.name != unit.name:
            raise RowError("conflict", f"{unit.level} {unit.code} is named '{unit.name}' here "
                                       f"but '{first.name}' on line {first.line}")
        if first.parent != unit.parent:
            raise RowError("conflict", f"{unit.level} {unit.code} is under {unit.parent} here "
                                       f"but under {first.parent} on line {first.line}")

    def _cells(self, row: Row, width: int) -> list[Cell]:
        cells = list(row.cells)
        if len(cells) > width and all(cell_text(c) == "" for c in cells[width:]):
            cells = cells[:width]
        if len(cells) < width and self.spreadsheet:
            cells += [None] * (width - len(cells))  # a sheet drops trailing empty cells
        if len(cells) != width:
            raise RowError("columns", f"has {len(cells)} columns, the header has {width}")
        return cells

    def row(self, row: Row, layout: str) -> None:
        """Read one row; its units are kept only if the whole row is good."""
        cells = self._cells(row, len(LAYOUTS[layout]))
        if problem := text_problem(cells, LAYOUTS[layout], range(len(cells))):
            raise RowError(*problem)
        if layout == "districts":
            p_name, p_code, d_name, d_code, c_name, c_code, kind, name_en = cells
        else:
            p_name, p_code, c_name, c_code, kind, name_en = cells
            d_name = d_code = None
        level_type = cell_text(kind)
        has_district = cell_text(d_name) != "" or cell_text(d_code) != ""
        has_commune = cell_text(c_name) != "" or cell_text(c_code) != ""
        units = [self._province(row.line, p_name, p_code)]
        if has_district:
            units.append(self._district(row.line, d_name, d_code, units[0].code,
                                        None if has_commune else level_type, name_en))
        if has_commune:
            units.append(self._commune(row.line, c_name, c_code, level_type, units[-1].code,
                                       name_en))
        elif not has_district and level_type and level_type not in PROVINCE_TYPES:
            raise RowError("required", "Phường Xã and Mã PX are empty, so the row names a "
                                       f"province alone, but Cấp says '{level_type}'")
        for unit in units:
            self._check(unit)
        for unit in units:
            self.seen[unit.level].setdefault(unit.code, unit)

    def _province(self, line: int, name: Cell, code: Cell) -> Unit:
        text = cell_text(name)
        if not text or cell_text(code) == "":
            raise RowError("required", "Tỉnh Thành Phố and Mã TP are required")
        return Unit(read_code(code, "Mã TP", "province"), text, province_type(text), "province",
                    None, None, line)

    def _district(self, line: int, name: Cell, code: Cell, parent: str, row_type: str | None,
                  name_en: Cell) -> Unit:
        text = cell_text(name)
        if not text or cell_text(code) == "":
            raise RowError("required", "Quận Huyện and Mã QH go together: one is empty")
        kind = district_type(text)
        if kind is None:
            raise RowError("district_type",
                           f"cannot tell the type of district '{text}': its name starts with "
                           f"none of {', '.join(DISTRICT_PREFIXES)}")
        if row_type and row_type != kind:
            raise RowError("type", f"Cấp '{row_type}' contradicts the district's name '{text}'")
        english = cell_text(name_en) if row_type is not None else ""
        return Unit(read_code(code, "Mã QH", "district"), text, kind, "district", parent,
                    english or None, line)

    def _commune(self, line: int, name: Cell, code: Cell, kind: str, parent: str,
                 name_en: Cell) -> Unit:
        text = cell_text(name)
        if not text or cell_text(code) == "":
            raise RowError("required", "Phường Xã and Mã PX go together: one is empty")
        if kind not in COMMUNE_TYPES:
            shown = f"'{kind}'" if kind else "empty"
            raise RowError("type", f"Cấp is {shown}; a commune's type is one of "
                                   f"{', '.join(COMMUNE_TYPES)}")
        return Unit(read_code(code, "Mã PX", "commune"), text, kind, "commune", parent,
                    cell_text(name_en) or None, line)


def _codes_in(row: Row, layout: str) -> tuple[str, ...]:
    """Codes a bad row seems to name, so that skipping it never retires them."""
    columns = {"districts": ((1, "province"), (3, "district"), (5, "commune")),
               "communes": ((1, "province"), (3, "commune"))}[layout]
    found = []
    for index, level in columns:
        if index < len(row.cells):
            try:
                found.append(read_code(row.cells[index], "", level))
            except RowError:
                continue
    return tuple(found)


def parse_table(table: Table) -> GsoFile:
    """Read every row; bad rows are collected, never half-read."""
    layout = check_header(table)
    result = GsoFile(table.source, layout, len(table.rows), warnings=list(table.warnings))
    reader = _Reader(table.spreadsheet)
    for row in table.rows:
        try:
            reader.row(row, layout)
        except RowError as exc:
            result.bad.append(BadLine(row.line, exc.rule, exc.reason, _codes_in(row, layout)))
    for seen in reader.seen.values():
        for unit in sorted(seen.values(), key=lambda u: u.code):
            result.units[unit.code] = unit
    return result


def read_gso_file(path: Path) -> GsoFile:
    """Read and parse a GSO export."""
    return parse_table(read_table_file(path))
