"""The rules of one code list, compiled from its JSON definition (docs/list-format.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from registry.dates import iso_day
from registry.errors import ValidationError
from registry.text import nfc

ATTRIBUTE_TYPES = ("string", "integer", "number", "boolean", "date", "url", "enum", "ref")
PARENT_RULES = ("qcvn102",)
_KEY = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Level:
    """One level of a hierarchy: its types, the levels allowed above it, its code pattern."""

    key: str
    name: str
    types: tuple[str, ...]
    parents: tuple[str, ...]
    optional_parent: bool
    pattern: re.Pattern[str] | None


@dataclass(frozen=True)
class Reference:
    """An attribute value that names an entry of another list; checked by the planner."""

    field: str
    list_key: str
    code: str


class ListRules:
    """Validation rules of one list. Build with :func:`compile_definition`."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.key: str = definition["key"]
        self.pattern = re.compile(definition["code_pattern"])
        self.parent_rule: str | None = definition.get("parent_rule")
        self.levels: dict[str, Level] = {}
        self.type_level: dict[str, str] = {}
        for raw in definition["levels"]:
            pattern = raw.get("code_pattern")
            level = Level(
                key=raw["key"],
                name=raw.get("name", raw["key"]),
                types=tuple(raw["types"]),
                parents=tuple(raw.get("parents", [])),
                optional_parent=bool(raw.get("optional_parent", False)),
                pattern=re.compile(pattern) if pattern else None,
            )
            self.levels[level.key] = level
            for type_ in level.types:
                self.type_level[type_] = level.key
        self.attributes: dict[str, dict[str, Any]] = definition.get("attributes", {})

    def level_of(self, type_: str, field: str) -> Level:
        """The level that ``type_`` belongs to; refuse unknown types."""
        key = self.type_level.get(type_)
        if key is None:
            known = ", ".join(self.type_level)
            raise ValidationError(
                field, "type", f"'{type_}' is not a type of list '{self.key}' (one of: {known})"
            )
        return self.levels[key]

    def check_code(self, code: str, level: Level, field: str) -> None:
        """Refuse a code that breaks the list's pattern or its level's pattern."""
        if not self.pattern.fullmatch(code):
            raise ValidationError(
                field, "code_pattern",
                f"'{code}' does not match the code pattern of list '{self.key}' "
                f"({self.pattern.pattern})",
            )
        if level.pattern is not None and not level.pattern.fullmatch(code):
            raise ValidationError(
                field, "code_pattern",
                f"'{code}' does not match the pattern of level '{level.key}' "
                f"({level.pattern.pattern})",
            )

    def parent_from_code(self, code: str) -> str | None:
        """For lists whose codes encode the parent, the parent's code; else ``None``."""
        if self.parent_rule == "qcvn102":
            return qcvn102_parent(code)
        return None

    def check_parent_level(self, level: Level, parent_level: Level | None, field: str) -> None:
        """Refuse a parent whose level may not stand above ``level``."""
        if parent_level is None:
            if level.parents and not level.optional_parent:
                raise ValidationError(
                    field, "parent_required",
                    f"an entry of level '{level.key}' needs a parent of level "
                    f"{' or '.join(level.parents)}",
                )
            return
        if parent_level.key not in level.parents:
            allowed = " or ".join(level.parents) or "none"
            raise ValidationError(
                field, "parent_level",
                f"level '{level.key}' may not have a parent of level '{parent_level.key}' "
                f"(allowed: {allowed})",
            )

    def clean_attributes(
        self, values: dict[str, Any], field: str, *, partial: bool = False
    ) -> tuple[dict[str, Any], list[Reference]]:
        """Check ``values`` against the schema; return them normalised and their references."""
        clean: dict[str, Any] = {}
        refs: list[Reference] = []
        for name, value in values.items():
            spec = self.attributes.get(name)
            where = f"{field}.{name}"
            if spec is None:
                known = ", ".join(self.attributes) or "none"
                raise ValidationError(
                    where, "unknown_attribute",
                    f"list '{self.key}' has no attribute '{name}' (known: {known})",
                )
            if value is None:
                clean[name] = None
                continue
            if spec.get("many"):
                if not isinstance(value, list):
                    raise ValidationError(where, "type", "must be a list")
                items = [_clean_value(spec, v, f"{where}[{i}]", refs) for i, v in enumerate(value)]
                clean[name] = items
            else:
                clean[name] = _clean_value(spec, value, where, refs)
        if not partial:
            for name, spec in self.attributes.items():
                if spec.get("required") and clean.get(name) is None:
                    raise ValidationError(
                        f"{field}.{name}", "required", "is required by the list's schema"
                    )
        return clean, refs


def _clean_value(spec: dict[str, Any], value: Any, where: str, refs: list[Reference]) -> Any:
    kind = spec["type"]
    if kind in ("string", "url", "enum", "ref", "date"):
        if not isinstance(value, str):
            raise ValidationError(where, "type", f"must be a {kind} given as text")
        value = nfc(value)
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValidationError(where, "type", "must be an integer")
    if kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ValidationError(where, "type", "must be a number")
    if kind == "boolean" and not isinstance(value, bool):
        raise ValidationError(where, "type", "must be true or false")
    if kind == "date":
        try:
            iso_day(value)
        except ValueError:
            raise ValidationError(where, "date", f"'{value}' is not a date (YYYY-MM-DD)") from None
    if kind == "url" and not re.match(r"^https?://\S+$", value):
        raise ValidationError(where, "url", f"'{value}' is not an http(s) URL")
    if kind == "enum" and value not in spec["values"]:
        raise ValidationError(
            where, "enum", f"'{value}' is not one of: {', '.join(spec['values'])}"
        )
    if kind == "ref":
        refs.append(Reference(field=where, list_key=spec["list"], code=value))
    return value


def qcvn102_parent(code: str) -> str | None:
    """Parent of a QCVN 102 agency code ``V1V2V3.Z1Z2.Y1Y2.MX1X2``, read right to left.

    The parent zeroes the lowest used level: ``001.02.03.G01`` → ``000.02.03.G01`` and
    ``000.00.03.G01`` → ``000.00.00.G01``; a level-1 code has no parent.
    """
    parts = code.split(".")
    if len(parts) != 4:
        return None
    for index in range(3):  # V (level 4), then Z (level 3), then Y (level 2)
        if parts[index].strip("0"):
            zeroed = list(parts)
            zeroed[index] = "0" * len(parts[index])
            return ".".join(zeroed)
    return None


def compile_definition(definition: dict[str, Any]) -> ListRules:
    """Check a list definition (docs/list-format.md) and compile its rules."""
    d = definition
    for name in ("key", "name", "code_pattern", "levels"):
        if d.get(name) in (None, "", []):
            raise ValidationError(name, "required", "is required in a list definition")
    if not isinstance(d["key"], str) or not _KEY.fullmatch(d["key"]):
        raise ValidationError("key", "format", "must be lower-case words joined by '-'")
    _check_regex(d["code_pattern"], "code_pattern")
    if d.get("reuse_policy", "never") != "never":
        raise ValidationError("reuse_policy", "enum", "the only policy is 'never'")
    if d.get("parent_rule") not in (None, *PARENT_RULES):
        raise ValidationError("parent_rule", "enum", f"must be null or one of {PARENT_RULES}")
    if not isinstance(d["levels"], list):
        raise ValidationError("levels", "type", "must be a list of levels")
    seen_levels: set[str] = set()
    seen_types: set[str] = set()
    for i, level in enumerate(d["levels"]):
        where = f"levels[{i}]"
        if not isinstance(level, dict) or not level.get("key") or not level.get("types"):
            raise ValidationError(where, "required", "a level needs 'key' and 'types'")
        if level["key"] in seen_levels:
            raise ValidationError(f"{where}.key", "unique", f"level '{level['key']}' repeats")
        seen_levels.add(level["key"])
        for type_ in level["types"]:
            if type_ in seen_types:
                raise ValidationError(
                    f"{where}.types", "unique", f"type '{type_}' belongs to two levels"
                )
            seen_types.add(type_)
        if level.get("code_pattern"):
            _check_regex(level["code_pattern"], f"{where}.code_pattern")
    for i, level in enumerate(d["levels"]):
        for parent in level.get("parents", []):
            if parent not in seen_levels:
                raise ValidationError(
                    f"levels[{i}].parents", "unknown_level", f"no level '{parent}'"
                )
    for name, spec in d.get("attributes", {}).items():
        where = f"attributes.{name}"
        if not isinstance(spec, dict) or spec.get("type") not in ATTRIBUTE_TYPES:
            raise ValidationError(
                f"{where}.type", "enum", f"must be one of: {', '.join(ATTRIBUTE_TYPES)}"
            )
        if spec["type"] == "enum" and not spec.get("values"):
            raise ValidationError(f"{where}.values", "required", "an enum needs 'values'")
        if spec["type"] == "ref" and not spec.get("list"):
            raise ValidationError(f"{where}.list", "required", "a ref needs the 'list' it names")
    return ListRules(d)


def _check_regex(pattern: Any, field: str) -> None:
    try:
        re.compile(pattern)
    except (re.error, TypeError) as exc:
        raise ValidationError(field, "regex", f"is not a valid regular expression: {exc}") from None
