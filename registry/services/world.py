"""The registry's current records around a change set, loaded in bulk for the planner."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, String, Text, any_, bindparam, cast, or_, select
from sqlalchemy.orm import Session

from registry.models import CodeList, Entry, EntryVersion, LineageLink
from registry.services.code_lists import rules_for
from registry.services.list_rules import ListRules

CHUNK = 500
Key = tuple[str, str]


@dataclass(frozen=True)
class State:
    """What an entry is over an interval: the payload of a version."""

    status: str
    name: str
    type: str
    level: str
    parent: str | None
    short_name: str | None = None
    name_en: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> State:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in diffs and feed records."""
        return {
            "status": self.status, "name": self.name, "short_name": self.short_name,
            "name_en": self.name_en, "type": self.type, "level": self.level,
            "parent": self.parent, "attributes": self.attributes,
        }


def state_of(row: VersionRow) -> State:
    """The state recorded in a version row."""
    return State(status=row.status, name=row.name, type=row.type, level=row.level,
                 parent=row.parent_code, short_name=row.short_name, name_en=row.name_en,
                 attributes=dict(row.attributes or {}))


_VERSION_COLUMNS = (
    EntryVersion.id, EntryVersion.code, EntryVersion.valid_from, EntryVersion.valid_to,
    EntryVersion.status, EntryVersion.name, EntryVersion.short_name, EntryVersion.name_en,
    EntryVersion.type, EntryVersion.level, EntryVersion.parent_code, EntryVersion.attributes,
)
VersionRow = Any  # a Row with the fields of _VERSION_COLUMNS (attribute access like the model)


@dataclass
class Loaded:
    """Current records and identity of one entry."""

    entry_id: int | None
    versions: list[VersionRow]


class World:
    """Current records (``superseded_release IS NULL``) of the entries a change set touches."""

    def __init__(self, session: Session, on: date) -> None:
        self.session = session
        self.on = on
        self.lists: dict[str, CodeList] = {c.key: c for c in session.scalars(select(CodeList))}
        self._loaded: dict[Key, Loaded] = {}
        self._states: dict[Key, State | None] = {}
        self._rules: dict[str, ListRules | None] = {}
        # Set while a plan is written: the connection then belongs to the write-behind
        # worker, so a read here would be a bug, not a lazy load.
        self.sealed = False

    def rules(self, list_key: str) -> ListRules | None:
        """Rules of ``list_key``, or ``None`` if there is no such list."""
        if list_key not in self._rules:
            code_list = self.lists.get(list_key)
            self._rules[list_key] = rules_for(code_list) if code_list else None
        return self._rules[list_key]

    def load(self, keys: Iterable[Key]) -> None:
        """Fetch the entries and current records of ``keys`` not loaded yet, in bulk."""
        by_list: dict[str, list[str]] = defaultdict(list)
        for key in set(keys):
            if key not in self._loaded and key[0] in self.lists:
                by_list[key[0]].append(key[1])
        for list_key, codes in by_list.items():
            list_id = self.lists[list_key].id
            for start in range(0, len(codes), CHUNK):
                chunk = codes[start:start + CHUNK]
                for code in chunk:
                    self._loaded[(list_key, code)] = Loaded(None, [])
                existing = []
                for entry_id, code in self.session.execute(
                    select(Entry.id, Entry.code).where(Entry.list_id == list_id,
                                                       self._among(Entry.code, chunk))
                ):
                    self._loaded[(list_key, code)].entry_id = entry_id
                    existing.append(code)
                if not existing:
                    continue  # new codes (creates): nothing more to read
                # Plain rows, not ORM objects: a reform touches tens of thousands of entries.
                rows = self.session.execute(
                    select(*_VERSION_COLUMNS).where(
                        EntryVersion.list_id == list_id, self._among(EntryVersion.code, existing),
                        EntryVersion.superseded_release.is_(None),
                    ).order_by(EntryVersion.code, EntryVersion.valid_from)
                )
                for row in rows:
                    self._loaded[(list_key, row.code)].versions.append(row)

    def _among(self, column: Any, codes: list[str]) -> Any:
        """``column IN codes``; one array parameter on PostgreSQL instead of hundreds."""
        if self.session.get_bind().dialect.name == "postgresql":
            return column == any_(bindparam(None, codes, type_=ARRAY(String)))
        return column.in_(codes)

    def get(self, key: Key) -> Loaded:
        """The loaded entry (loading it on demand)."""
        if key not in self._loaded:
            if self.sealed:
                raise RuntimeError(f"{key} was not loaded while planning")
            self.load([key])
        return self._loaded.get(key) or Loaded(None, [])

    def exists(self, key: Key) -> bool:
        """Whether the code was ever issued in the list."""
        return self.get(key).entry_id is not None

    def version_on(self, key: Key, on: date | None = None) -> VersionRow | None:
        """The current record valid on ``on`` (default: the effective date)."""
        day = on or self.on
        for row in self.get(key).versions:
            if row.valid_from <= day and (row.valid_to is None or day < row.valid_to):
                return row
        return None

    def state_on(self, key: Key) -> State | None:
        """The state valid on the effective date, before the change set."""
        if key not in self._states:
            row = self.version_on(key)
            self._states[key] = state_of(row) if row else None
        return self._states[key]

    def ends_after(self, key: Key, row: VersionRow) -> list[VersionRow]:
        """The records of the entry's end that directly follow ``row``, in date order: each
        begins where the one before it ends and says the entry has ended."""
        out: list[VersionRow] = []
        day = row.valid_to
        for later in sorted(self.get(key).versions, key=lambda r: r.valid_from):
            if day is None or later.valid_from > day:
                break
            if later.valid_from == day:
                if later.status == "active":
                    break
                out.append(later)
                day = later.valid_to
        return out

    def later_versions(self, key: Key) -> list[VersionRow]:
        """Records that start after the effective date (future-dated changes)."""
        return [r for r in self.get(key).versions if r.valid_from > self.on]

    def ended_on(self, key: Key) -> date | None:
        """When the entry ended, if its latest record says it is retired."""
        versions = self.get(key).versions
        if versions and versions[-1].status == "retired":
            ended: date = versions[-1].valid_from
            return ended
        return None

    def has_successors(self, key: Key) -> bool:
        """Whether any lineage link leads from the entry to another."""
        return self.session.scalar(select(LineageLink.id).where(
            LineageLink.list_id == self.lists[key[0]].id, LineageLink.from_code == key[1],
        ).limit(1)) is not None

    def ref_fields(self, list_key: str, target: str) -> list[str]:
        """Attributes of ``list_key`` that name entries of the list ``target``."""
        rules = self.rules(list_key)
        return [] if rules is None else [
            name for name, spec in rules.attributes.items()
            if spec.get("type") == "ref" and spec.get("list") == target]

    def referring_versions(self, target: str, code: str) -> list[tuple[str, VersionRow]]:
        """Current records, of any list and date, whose attributes name ``code`` of ``target``."""
        quoted = json.dumps(code, ensure_ascii=False)
        pattern = "%" + quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        out: list[tuple[str, VersionRow]] = []
        for list_key, code_list in self.lists.items():
            fields = self.ref_fields(list_key, target)
            if not fields:
                continue
            # A text match narrows the rows; the exact test is on the parsed attributes.
            for row in self.session.execute(
                select(*_VERSION_COLUMNS).where(
                    EntryVersion.list_id == code_list.id,
                    EntryVersion.superseded_release.is_(None),
                    cast(EntryVersion.attributes, Text).like(pattern, escape="\\"),
                ).order_by(EntryVersion.code, EntryVersion.valid_from)
            ):
                if any(_names(row.attributes, name, code) for name in fields):
                    out.append((list_key, row))
        return out

    def children_of(self, list_key: str, parent: str) -> list[VersionRow]:
        """Every current record, of any date, whose parent is ``parent``."""
        return list(self.session.execute(
            select(*_VERSION_COLUMNS).where(
                EntryVersion.list_id == self.lists[list_key].id,
                EntryVersion.parent_code == parent,
                EntryVersion.superseded_release.is_(None),
            ).order_by(EntryVersion.code, EntryVersion.valid_from)))

    def children_over(self, list_key: str, parent: str, start: date,
                      end: date | None) -> list[VersionRow]:
        """Active current records whose parent is ``parent`` on some day of [start, end)."""
        overlap = [or_(EntryVersion.valid_to.is_(None), EntryVersion.valid_to > start)]
        if end is not None:
            overlap.append(EntryVersion.valid_from < end)
        return list(self.session.execute(
            select(*_VERSION_COLUMNS).where(
                EntryVersion.list_id == self.lists[list_key].id,
                EntryVersion.parent_code == parent,
                EntryVersion.superseded_release.is_(None),
                EntryVersion.status == "active", *overlap,
            ).order_by(EntryVersion.code, EntryVersion.valid_from)))

    def active_children(self, list_key: str, parents: list[str]) -> list[VersionRow]:
        """Records valid on or after the effective date whose parent is one of ``parents``."""
        code_list = self.lists[list_key]
        out: list[VersionRow] = []
        for start in range(0, len(parents), CHUNK):
            chunk = parents[start:start + CHUNK]
            out.extend(self.session.execute(
                select(*_VERSION_COLUMNS).where(
                    EntryVersion.list_id == code_list.id,
                    self._among(EntryVersion.parent_code, chunk),
                    EntryVersion.superseded_release.is_(None),
                    EntryVersion.status == "active",
                    or_(EntryVersion.valid_to.is_(None), EntryVersion.valid_to > self.on),
                )
            ))
        return out


def _names(attributes: dict[str, Any] | None, name: str, code: str) -> bool:
    value = (attributes or {}).get(name)
    return value == code or (isinstance(value, list) and code in value)
