"""The statistics office's old → new conversion table (Bảng chuyển đổi ĐVHC mới – cũ).

One row per (new commune, old commune) pair, in the layout the office published for the
reform of 2025-07-01 (CSV or XLSX)::

    Tỉnh, thành phố | Tên Xã mới | Mã Xã mới | Tên Xã cũ | Mã Xã cũ | Ghi chú | Quận/huyện | Tỉnh cũ

Provinces and districts are written "Name (code)". A title row may precede the header, and
rows that hold only a province name in capitals separate the provinces. The note (``Ghi
chú``) says how the old unit went in: ``Nhập toàn bộ`` (whole), ``Nhập một phần …`` (part
of it), ``…, toàn bộ dân số`` (part of the area with the whole population), ``Giữ nguyên``
(kept), ``Đổi tên`` (renamed), ``Sắp xếp toàn bộ huyện X thành đặc khu X`` (a whole island
district became a special zone: the row has no old commune, its source is the district).

This module only reads: every bad row is reported with its line, the field and the rule.
:mod:`registry.importers.conversion_plan` turns the links into a change set.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from registry.errors import ValidationError, ValidationErrors
from registry.importers.tabular import Table, cell_text, read_table, read_table_file

# The second header row of the published table, as cells are normalised (blanks collapsed).
HEADER = ("Tỉnh, thành phố", "Tên Xã mới", "Mã Xã mới", "Tên Xã cũ", "Mã Xã cũ", "Ghi chú",
          "Quận/huyện", "Tỉnh cũ")
FIELDS = ("new_province", "new_name", "new_code", "old_name", "old_code", "note",
          "old_district", "old_province")
_NAMED_CODE = re.compile(r"^(?P<name>.*?)\s*\((?P<code>\d+)\)$")
_COMMUNE = re.compile(r"^\d{5}$")
# A source that is a whole district (the island districts of 2025), not a commune.
_WHOLE_DISTRICT = re.compile(r"^sắp xếp toàn bộ (huyện|quận|thị xã|thành phố)\b")


def _norm(text: str) -> str:
    """NFC, blanks (line breaks inside a quoted cell too) collapsed to single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass(frozen=True)
class Link:
    """One row: a part or the whole of an old unit that went into a new commune."""

    line: int
    new_province: str
    new_province_name: str
    new_code: str
    new_name: str
    old_code: str | None  # None: the source is the whole district, or an area with no code
    old_name: str
    note: str
    old_district: str
    old_district_name: str
    old_province: str
    old_province_name: str

    @property
    def source(self) -> str | None:
        """The registry code the row converts: the old commune, or the whole district; None
        for an area without a code."""
        return self.old_code or (self.old_district if self.whole_district else None)

    @property
    def whole_district(self) -> bool:
        """The row moves a whole district (an island without communes) into the new unit."""
        return self.old_code is None and _WHOLE_DISTRICT.match(self.note.lower()) is not None

    @property
    def says_part(self) -> bool:
        """The note says only a part went in (of the area, or of the population)."""
        lowered = self.note.lower()
        return "một phần" in lowered or "phần còn lại" in lowered or "một  phần" in lowered

    @property
    def says_whole_people(self) -> bool:
        """The note gives this successor the whole population or the whole area.

        "Nhập một phần diện tích, toàn bộ dân số": the people went here, so an address
        of the old unit is here; the natural default successor.
        """
        lowered = self.note.lower()
        return "toàn bộ dân số" in lowered or "toàn bộ diện tích" in lowered


@dataclass(frozen=True)
class ConversionTable:
    """The links of a file, in file order, and the corrections applied to it, each with
    the new commune it concerns."""

    source: str
    links: list[Link]
    corrections: list[tuple[str, str]]

    @property
    def fixed(self) -> list[str]:
        """The corrections, as text."""
        return [text for _code, text in self.corrections]

    def provinces(self) -> list[str]:
        """New province codes, in file order."""
        return list(dict.fromkeys(link.new_province for link in self.links))

    # Indexes computed once per table: a bundle plans one province at a time, 34 times.

    @cached_property
    def by_source(self) -> dict[str, list[Link]]:
        """Registry code → every row that converts it, in file order."""
        out: dict[str, list[Link]] = defaultdict(list)
        for link in self.links:
            if link.source is not None:
                out[link.source].append(link)
        return dict(out)

    @cached_property
    def sources_by_province(self) -> dict[str, list[str]]:
        """New province → the registry codes that went (in part) into it."""
        out: dict[str, dict[str, None]] = defaultdict(dict)
        for link in self.links:
            if link.source is not None:
                out[link.new_province][link.source] = None
        return {province: list(codes) for province, codes in out.items()}

    @cached_property
    def new_names(self) -> dict[str, str]:
        """New commune code → its name."""
        return {link.new_code: link.new_name for link in self.links}


def _named_code(text: str, line: int, source: str, field: str,
                errors: list[ValidationError]) -> tuple[str, str]:
    match = _NAMED_CODE.match(text)
    if match is None:
        errors.append(ValidationError(f"{source}:{line}: {field}", "format",
                                      f"{text!r} is not 'Name (code)'"))
        return "", ""
    return match["name"], match["code"]


def _header_index(table: Table) -> int:
    """How many data rows precede the first link: the header may be line 1 or line 2."""
    if tuple(_norm(h) for h in table.header[:len(HEADER)]) == HEADER:
        return 0
    if table.rows and tuple(_norm(cell_text(c)) for c in table.rows[0].cells[:len(HEADER)]) \
            == HEADER:
        return 1
    raise ValidationError(f"{table.source}: header", "layout",
                          "is not the conversion-table layout: expected the columns "
                          + ", ".join(HEADER))


def parse_conversion_table(table: Table,
                           fixes: Mapping[tuple[str, str], str] | None = None
                           ) -> ConversionTable:
    """The links of ``table``; every bad row is reported, and nothing is returned then.

    ``fixes`` maps (new code, old code as published) to the corrected old code, for known
    typos in a published table; each one must match a row, or the fix itself is an error.
    """
    source = table.source
    errors: list[ValidationError] = []
    links: list[Link] = []
    unused = dict(fixes or {})
    fixed: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for row in table.rows[_header_index(table):]:
        cells = [_norm(cell_text(c)) for c in row.cells]
        for index in (2, 4):  # a spreadsheet stores 00004 as the number 4
            if index < len(row.cells) and isinstance(row.cells[index], int | float) \
                    and not isinstance(row.cells[index], bool) and cells[index].isdigit():
                cells[index] = cells[index].zfill(5)
        if sum(1 for c in cells if c) <= 1:
            continue  # a province separator ("THÀNH PHỐ HÀ NỘI") or a blank row
        cells += [""] * (len(HEADER) - len(cells))
        values = dict(zip(FIELDS, cells, strict=False))
        line = row.line
        before = len(errors)
        new_prov_name, new_prov = _named_code(values["new_province"], line, source,
                                              "Tỉnh, thành phố", errors)
        dist_name, dist = _named_code(values["old_district"], line, source, "Quận/huyện",
                                      errors)
        old_prov_name, old_prov = _named_code(values["old_province"], line, source, "Tỉnh cũ",
                                              errors)
        new_code, old_code = values["new_code"], values["old_code"]
        if (new_code, old_code) in unused:
            corrected = unused.pop((new_code, old_code))
            fixed.append((new_code, f"line {line}: old code {old_code} on the row of "
                                    f"{new_code} read as {corrected}"))
            old_code = corrected
        if not _COMMUNE.match(new_code):
            errors.append(ValidationError(f"{source}:{line}: Mã Xã mới", "pattern",
                                          f"{new_code!r} is not a five-digit commune code"))
        if not values["new_name"]:
            errors.append(ValidationError(f"{source}:{line}: Tên Xã mới", "required",
                                          "the new commune has no name"))
        if old_code and not _COMMUNE.match(old_code):
            errors.append(ValidationError(f"{source}:{line}: Mã Xã cũ", "pattern",
                                          f"{old_code!r} is not a five-digit commune code"))
        if not old_code and not values["old_name"] and not _WHOLE_DISTRICT.match(
                values["note"].lower()):
            errors.append(ValidationError(f"{source}:{line}: Mã Xã cũ", "required",
                                          "no old commune, and the note does not say a whole "
                                          "district went in"))
        if old_code and (new_code, old_code) in seen:
            errors.append(ValidationError(f"{source}:{line}: Mã Xã cũ", "duplicate",
                                          f"{old_code} → {new_code} is already on line "
                                          f"{seen[(new_code, old_code)]}"))
        if len(errors) > before:
            continue
        if old_code:
            seen[(new_code, old_code)] = line
        links.append(Link(line, new_prov, new_prov_name, new_code, values["new_name"],
                          old_code or None, values["old_name"], values["note"], dist,
                          dist_name, old_prov, old_prov_name))
    for (new_code, old_code), corrected in unused.items():
        errors.append(ValidationError(f"{source}: fixes", "unmatched",
                                      f"no row of {new_code} names old code {old_code} "
                                      f"(fix to {corrected})"))
    if errors:
        raise ValidationErrors(errors)
    if not links:
        raise ValidationError(source, "empty", "the table has no rows")
    links, spelt = _check_names(links, source)
    return ConversionTable(source, links, fixed + spelt)


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(c)).lower()


def _check_names(links: list[Link], source: str) -> tuple[list[Link], list[tuple[str, str]]]:
    """A new commune has one name and one province on every row that names it.

    Names that differ only in tone-mark placement ("Điềm Thụy" / "Điềm Thuỵ", both in the
    2025 table) are one name: the spelling most rows use is kept, and a note says so.
    """
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    first: dict[str, Link] = {}
    errors: list[ValidationError] = []
    for link in links:
        earlier = first.setdefault(link.new_code, link)
        spellings[link.new_code][link.new_name] += 1
        if _plain(earlier.new_name) != _plain(link.new_name) \
                or earlier.new_province != link.new_province:
            errors.append(ValidationError(
                f"{source}:{link.line}: Tên Xã mới", "consistent",
                f"{link.new_code} is {link.new_name!r} in {link.new_province} here but "
                f"{earlier.new_name!r} in {earlier.new_province} on line {earlier.line}"))
    if errors:
        raise ValidationErrors(errors)
    notes: list[tuple[str, str]] = []
    chosen: dict[str, str] = {}
    for code, found in spellings.items():
        chosen[code] = found.most_common(1)[0][0]
        if len(found) > 1:
            notes.append((code, f"{code} is spelt " + " / ".join(repr(n) for n in found)
                          + f": {chosen[code]!r} is kept"))
    return [replace(link, new_name=chosen[link.new_code]) for link in links], notes


def read_fixes(data: bytes, source: str) -> dict[tuple[str, str], str]:
    """Known typos of a published table: rows ``new code, old code as published, corrected``.

    Extra columns (the unit's name, the reason) are for the reader.
    """
    table = read_table(data, source)
    out: dict[tuple[str, str], str] = {}
    for row in table.rows:
        cells = [_norm(cell_text(c)) for c in row.cells]
        if len(cells) < 3 or not all(_COMMUNE.match(c) for c in cells[:3]):
            raise ValidationError(f"{source}:{row.line}", "format",
                                  "a fix is 'new code, old code as published, corrected code' "
                                  "(five digits each)")
        out[(cells[0], cells[1])] = cells[2]
    return out


def read_conversion_file(path: Path, fixes: Path | None = None) -> ConversionTable:
    """Read a conversion-table file (CSV or XLSX), with an optional file of fixes."""
    found: dict[tuple[str, str], str] = {}
    if fixes is not None:
        try:
            found = read_fixes(fixes.read_bytes(), fixes.name)
        except OSError as exc:
            raise ValidationError(str(fixes), "file", exc.strerror or str(exc)) from None
    return parse_conversion_table(read_table_file(path), found)


def read_conversion_bytes(data: bytes, source: str,
                          fixes: Mapping[tuple[str, str], str] | None = None) -> ConversionTable:
    """:func:`parse_conversion_table` over bytes (the bundled data reads its files so)."""
    return parse_conversion_table(read_table(data, source), fixes)
