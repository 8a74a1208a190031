"""A list on a date as a table: a header, rows of typed cells, and which columns are codes.

For ``admin-units`` the table is the statistics office's layout, so an export can be
imported again (:mod:`registry.importers.gso`); every other list gets one row per entry
with its fields and one column per attribute of the list's schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from registry.importers.gso import HEADER_COMMUNES, HEADER_DISTRICTS
from registry.services.queries import EntryView

Cell = str | int | float | bool | date | None
ENTRY_COLUMNS = ("code", "name", "short_name", "name_en", "type", "level", "parent", "status",
                 "valid_from", "valid_to")
CODE_COLUMNS = frozenset({"code", "parent", "Mã TP", "Mã QH", "Mã PX"})


@dataclass
class TableOut:
    """What a writer needs: the header, the rows, and the columns holding codes."""

    header: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)

    def code_columns(self) -> list[int]:
        """Indexes of columns that hold codes: text, whatever their digits look like."""
        return [i for i, name in enumerate(self.header) if name in CODE_COLUMNS]


def gso_table(entries: list[EntryView]) -> TableOut:
    """Active admin units in the statistics office's layout.

    With districts when any district is active on the date, without them otherwise. A
    district without communes gets a row of its own, as in the office's files.
    """
    by_code = {e.code: e for e in entries}
    with_districts = any(e.level == "district" for e in entries)
    table = TableOut(HEADER_DISTRICTS if with_districts else HEADER_COMMUNES)
    keyed: list[tuple[tuple[str, str, str], tuple[Cell, ...]]] = []
    has_children: set[str] = set()
    for entry in entries:
        if entry.parent:
            has_children.add(entry.parent)

    def add(province: EntryView, district: EntryView | None, commune: EntryView | None,
            kind: str, name_en: str | None) -> None:
        key = (province.code, district.code if district else "", commune.code if commune else "")
        cells: list[Cell] = [province.name, province.code]
        if with_districts:
            cells += [district.name if district else "", district.code if district else ""]
        cells += [commune.name if commune else "", commune.code if commune else "", kind,
                  name_en or ""]
        keyed.append((key, tuple(cells)))

    for entry in entries:
        if entry.level == "commune":
            parent = by_code.get(entry.parent or "")
            if parent is None:
                continue  # never happens for a valid registry: parents outlive children
            if parent.level == "district":
                province = by_code.get(parent.parent or "")
                if province is not None:
                    add(province, parent, entry, entry.type, entry.name_en)
            else:
                add(parent, None, entry, entry.type, entry.name_en)
        elif entry.level == "district" and entry.code not in has_children:
            province = by_code.get(entry.parent or "")
            if province is not None:
                add(province, entry, None, entry.type, entry.name_en)
        elif entry.level == "province" and entry.code not in has_children:
            add(entry, None, None, entry.type, entry.name_en)
    table.rows = [cells for _, cells in sorted(keyed, key=lambda item: item[0])]
    return table


def attribute_text(value: Any) -> Cell:
    """An attribute value in one cell: lists joined by "; ", everything else as it is."""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def entry_table(entries: list[EntryView], attributes: list[str]) -> TableOut:
    """One row per entry: its fields, then one column per attribute."""
    table = TableOut((*ENTRY_COLUMNS, *attributes))
    for e in entries:
        table.rows.append((e.code, e.name, e.short_name, e.name_en, e.type, e.level, e.parent,
                           e.status, e.valid_from, e.valid_to,
                           *(attribute_text(e.attributes.get(a)) for a in attributes)))
    return table
