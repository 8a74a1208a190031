"""A generic import for any code list: columns mapped to fields and attributes.

By default a column named like a field (``code``, ``name``, ``type``, ``parent``,
``short_name``, ``name_en``) or like an attribute of the list fills it, so a CSV made by
``registry export LIST --format csv`` imports again unchanged. ``--map FIELD=COLUMN`` maps
others (``attributes.website=Trang web`` for an attribute). Columns that map to nothing
are ignored and listed in the summary.

The rules are those of the GSO import: every bad row is reported with its line and reason,
and nothing is imported when any row is bad unless bad rows are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.importers.plans import BadLine, ImportPlan, describe
from registry.importers.tabular import Cell, Table, cell_text, text_problem
from registry.services import code_lists
from registry.services.gso_diff import Desired, Options, current_state, diff_operations
from registry.services.list_rules import ListRules

FIELDS = ("code", "name", "type", "parent", "short_name", "name_en")
ATTRIBUTE_PREFIXES = ("attributes.", "attr:")
TRUE = {"true", "1", "yes", "có", "x"}
FALSE = {"false", "0", "no", "không", ""}
MANY_SEPARATOR = re.compile(r"\s*;\s*")


@dataclass(frozen=True)
class Mapping:
    """Which column (by index) fills each field and attribute."""

    fields: dict[str, int]
    attributes: dict[str, int]
    ignored: tuple[str, ...]


def parse_map_options(options: list[str]) -> dict[str, str]:
    """``FIELD=COLUMN`` options as a dict; a malformed one is a validation error."""
    out: dict[str, str] = {}
    for option in options:
        target, sep, column = option.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise ValidationError("--map", "format", f"'{option}' is not FIELD=COLUMN")
        out[target.strip()] = column.strip()
    return out


def build_mapping(header: tuple[str, ...], rules: ListRules,
                  explicit: dict[str, str]) -> Mapping:
    """Map columns to fields: explicit ``--map`` entries first, then same-named columns."""
    index = {name: i for i, name in enumerate(header)}
    fields: dict[str, int] = {}
    attributes: dict[str, int] = {}
    for target, column in explicit.items():
        if column not in index:
            raise ValidationError("--map", "unknown_column",
                                  f"'{column}' is not a column of the file "
                                  f"(columns: {', '.join(header)})")
        attribute = next((target[len(p):] for p in ATTRIBUTE_PREFIXES
                          if target.startswith(p)), None)
        if attribute is not None:
            if attribute not in rules.attributes:
                raise ValidationError("--map", "unknown_attribute",
                                      f"list '{rules.key}' has no attribute '{attribute}'")
            attributes[attribute] = index[column]
        elif target in FIELDS:
            fields[target] = index[column]
        else:
            raise ValidationError("--map", "unknown_field",
                                  f"'{target}' is neither a field ({', '.join(FIELDS)}) nor "
                                  "attributes.NAME")
    used = set(fields.values()) | set(attributes.values())
    for i, name in enumerate(header):
        if i in used:
            continue
        if name in FIELDS and name not in fields:
            fields[name] = i
        elif name in rules.attributes and name not in attributes:
            attributes[name] = i
        else:
            continue
        used.add(i)
    for required in ("code", "name"):
        if required not in fields:
            raise ValidationError("--map", "required",
                                  f"no column gives the '{required}'; name one with "
                                  f"--map {required}=COLUMN")
    ignored = tuple(name for i, name in enumerate(header) if i not in used)
    return Mapping(fields, attributes, ignored)


class RowError(Exception):
    """A bad row."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


def read_code(value: Cell, rules: ListRules, column: str) -> str:
    """A code as text; digits a spreadsheet shortened get their leading zeros back.

    The list's code pattern says how many: "1" becomes "01" in a two-digit list.
    """
    text = cell_text(value)
    if not text:
        raise RowError("required", f"{column} is empty")
    if rules.pattern.fullmatch(text):
        return text
    if text.isdigit():
        for width in range(len(text) + 1, 13):
            padded = text.zfill(width)
            if rules.pattern.fullmatch(padded):
                return padded
    raise RowError("code_pattern", f"{column} '{text}' does not match the code pattern of "
                                   f"list '{rules.key}' ({rules.pattern.pattern})")


def read_attribute(value: Cell, spec: dict[str, Any], name: str) -> Any:
    """A cell as the attribute's type; an empty cell removes the attribute (``None``)."""
    if spec.get("many"):
        text = cell_text(value)
        if not text:
            return None
        return [_scalar(part, spec, name) for part in MANY_SEPARATOR.split(text) if part]
    if cell_text(value) == "":
        return None
    return _scalar(value, spec, name)


def _scalar(value: Cell, spec: dict[str, Any], name: str) -> Any:
    kind = spec["type"]
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = cell_text(value)
        if not re.fullmatch(r"-?\d+", text):
            raise RowError("type", f"{name} '{text}' is not an integer")
        return int(text)
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        text = cell_text(value).replace(",", ".")
        try:
            return float(text)
        except ValueError:
            raise RowError("type", f"{name} '{text}' is not a number") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = cell_text(value).casefold()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise RowError("type", f"{name} '{text}' is not true or false")
    return cell_text(value)


def _type_of(rules: ListRules, default_type: str | None) -> str | None:
    if default_type is not None:
        return default_type
    types = list(rules.type_level)
    return types[0] if len(types) == 1 else None


def read_rows(table: Table, rules: ListRules, mapping: Mapping,
              default_type: str | None) -> tuple[list[Desired], list[BadLine]]:
    """The desired entries and the bad rows of a table."""
    desired: dict[str, Desired] = {}
    lines: dict[str, int] = {}
    bad: list[BadLine] = []
    fallback_type = _type_of(rules, default_type)
    width = len(table.header)
    read_columns = sorted({*mapping.fields.values(), *mapping.attributes.values()})
    for row in table.rows:
        cells = list(row.cells)
        if len(cells) < width and table.spreadsheet:
            cells += [None] * (width - len(cells))
        try:
            if len(cells) != width and not (
                len(cells) > width and all(cell_text(c) == "" for c in cells[width:])
            ):
                raise RowError("columns", f"has {len(cells)} columns, the header has {width}")
            if problem := text_problem(cells, table.header, read_columns):
                raise RowError(*problem)
            desired_row = _desired(cells, rules, mapping, fallback_type)
            if desired_row.code in desired:
                raise RowError("duplicate", f"code {desired_row.code} is listed again "
                                            f"(first on line {lines[desired_row.code]})")
        except RowError as exc:
            code = cell_text(cells[mapping.fields["code"]]) \
                if mapping.fields["code"] < len(cells) else ""
            bad.append(BadLine(row.line, exc.rule, exc.reason, (code,) if code else ()))
            continue
        desired[desired_row.code] = desired_row
        lines[desired_row.code] = row.line
    return list(desired.values()), bad


def _desired(cells: list[Cell], rules: ListRules, mapping: Mapping,
             fallback_type: str | None) -> Desired:
    def text(field: str) -> str | None:
        index = mapping.fields.get(field)
        return (cell_text(cells[index]) or None) if index is not None else None

    code = read_code(cells[mapping.fields["code"]], rules, "code")
    name = text("name")
    if not name:
        raise RowError("required", "name is empty")
    kind = text("type") or fallback_type
    if kind is None:
        raise RowError("required", f"type is empty and list '{rules.key}' has several types "
                                   f"({', '.join(rules.type_level)}); give --type")
    if kind not in rules.type_level:
        raise RowError("type", f"'{kind}' is not a type of list '{rules.key}' "
                               f"(one of: {', '.join(rules.type_level)})")
    parent = None
    if "parent" in mapping.fields and (raw := text("parent")):
        parent = read_code(raw, rules, "parent")
    attributes = None
    if mapping.attributes:
        attributes = {name: read_attribute(cells[i], rules.attributes[name], name)
                      for name, i in mapping.attributes.items()}
    return Desired(code=code, name=name, type=kind, level=rules.type_level[kind], parent=parent,
                   short_name=text("short_name"), name_en=text("name_en"),
                   attributes=attributes)


def plan_csv_import(session: Session, list_key: str, table: Table, effective: date,
                    explicit_map: dict[str, str] | None = None, default_type: str | None = None,
                    retire_missing: bool = False) -> ImportPlan:
    """The operations that make the list on ``effective`` what the table says.

    Entries the table leaves out are kept, unless ``retire_missing`` says the table is the
    whole list.
    """
    code_list = code_lists.get_list(session, list_key)
    rules = code_lists.rules_for(code_list)
    mapping = build_mapping(table.header, rules, explicit_map or {})
    if default_type is not None and default_type not in rules.type_level:
        raise ValidationError("--type", "type", f"'{default_type}' is not a type of list "
                                                f"'{list_key}' (one of: "
                                                f"{', '.join(rules.type_level)})")
    desired, bad = read_rows(table, rules, mapping, default_type)
    current = current_state(session, list_key, effective)
    protected = {code for line in bad for code in line.codes}
    retire = [c for c in current if c not in protected] if retire_missing else []
    # A parent read from the code (QCVN 102) is not the file's to change.
    compare_parent = "parent" in mapping.fields and rules.parent_rule is None
    ops = diff_operations(list_key, current, desired, retire,
                          Options(compare_parent=compare_parent))
    scope = ("the whole list: entries missing from the file are retired" if retire_missing
             else "the entries in the file: entries it leaves out are kept")
    plan = ImportPlan(list_key, table.source, effective, len(table.rows), scope, bad=bad)
    if mapping.ignored:
        plan.notes.append("ignored columns: " + ", ".join(mapping.ignored))
    plan.notes.extend(table.warnings)
    names = {d.code: d.name for d in desired}
    for op in ops:
        plan.add(op, list_key, describe(op, current, names))
    return plan
