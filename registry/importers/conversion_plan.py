"""A conversion table as one reform change set: merges with part/whole links, defaults,
the districts that disappear, and the provinces that merge.

The registry's state on the day before the effective date is the authority for the old
units (their district and province); the table's own district and province columns are
cross-checked against it, and every disagreement is a note, not a silent choice.

Which successor is the default of a divided commune (one that went to several new ones),
in this order (docs/lineage.md):

1. the one the note gives the whole population (or the whole area) to: an address of the
   old unit is there;
2. the one that keeps the old code (the part with the old seat keeps the code);
3. the one that carries the old name on (same name without its type word);
4. otherwise the first in the table's order. The plan counts how many defaults each rule
   chose, so a reviewer sees how many rest on the weakest rule.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import ValidationError, ValidationErrors
from registry.importers.conversion_table import ConversionTable, Link
from registry.importers.gso import province_type, short_name
from registry.importers.plans import ImportPlan
from registry.services.export_reads import entries_on
from registry.services.queries import EntryView

LIST = "admin-units"
NEW_COMMUNE_TYPES = ("Đặc khu", "Phường", "Xã")
DEFAULT_RULES = ("whole population", "keeps the code", "keeps the name", "first listed")


@dataclass
class Successors:
    """Where one old unit went: new codes in table order, the kind and the default."""

    old: str
    links: list[Link] = field(default_factory=list)
    default: str | None = None
    rule: str | None = None

    @cached_property
    def targets(self) -> list[str]:
        """Read once every link is collected."""
        return list(dict.fromkeys(link.new_code for link in self.links))

    @cached_property
    def divided(self) -> bool:
        return len(self.targets) > 1

    def kind(self) -> str:
        if self.divided or any(link.says_part for link in self.links):
            return "part"
        return "whole"


def _plain(text: str) -> str:
    """Without diacritics or case: "Xã Ngọc Hà" → "xa ngoc ha"."""
    stripped = "".join(c for c in unicodedata.normalize("NFD", text)
                       if not unicodedata.combining(c))
    return stripped.replace("đ", "d").replace("Đ", "D").lower()


def _fold(name: str) -> str:
    """The name without its type word, diacritics or case: "Xã Ngọc Hà" → "ngoc ha"."""
    return _plain(short_name(name))


def choose_default(found: Successors, new_names: dict[str, str], old_name: str) -> None:
    """Set the default successor of a divided unit by the rules of the module docstring."""
    targets = found.targets
    people = list(dict.fromkeys(link.new_code for link in found.links
                                if link.says_whole_people))
    if len(people) == 1:
        found.default, found.rule = people[0], DEFAULT_RULES[0]
    elif found.old in targets:
        found.default, found.rule = found.old, DEFAULT_RULES[1]
    else:
        same = [t for t in targets if _fold(new_names[t]) == _fold(old_name)]
        if len(same) == 1:
            found.default, found.rule = same[0], DEFAULT_RULES[2]
        else:
            found.default, found.rule = targets[0], DEFAULT_RULES[3]


def _new_type(link: Link, errors: list[ValidationError], source: str,
              notes: list[str]) -> tuple[str, str]:
    """The new commune's type from its name's first words, and the name with that type
    word spelt right: the 2025 table writes "Xa Ea Kly" once for "Xã Ea Kly"."""
    for type_ in NEW_COMMUNE_TYPES:
        if link.new_name.startswith(type_ + " "):
            return type_, link.new_name
    for type_ in NEW_COMMUNE_TYPES:
        head = link.new_name[:len(type_)]
        if _plain(head) == _plain(type_) and link.new_name[len(type_):][:1] == " ":
            fixed = type_ + link.new_name[len(type_):]
            notes.append(f"line {link.line}: {link.new_name!r} read as {fixed!r}")
            return type_, fixed
    errors.append(ValidationError(f"{source}:{link.line}: Tên Xã mới", "type",
                                  f"{link.new_name!r} starts with none of "
                                  + ", ".join(NEW_COMMUNE_TYPES)))
    return "", link.new_name


def _province_of(code: str, current: dict[str, EntryView]) -> str | None:
    cursor: EntryView | None = current.get(code)
    while cursor is not None and cursor.parent is not None:
        cursor = current.get(cursor.parent)
    return cursor.code if cursor is not None else None


def _source(found: Successors, target: str) -> str | dict[str, Any]:
    kind = found.kind()
    default = found.default == target if found.divided else True
    if kind == "whole" and default:
        return found.old
    return {"code": found.old, "kind": kind, "default": default}


class _Builder:
    """Collects the plan's operations, errors and notes for one table and one date."""

    def __init__(self, session: Session, table: ConversionTable, effective: date,
                 province: str | None) -> None:
        self.table = table
        self.source = table.source
        self.effective = effective
        self.province = province
        self.session = session
        self.current: dict[str, EntryView] = {}
        self.wanted: set[str] = set()
        self.errors: list[ValidationError] = []
        self.notes: list[str] = []

    def read_current(self, found: dict[str, Successors]) -> None:
        """The registry's old units that the plan touches, on the day before: the sources,
        their ancestors, and every unit under their districts (to tell which districts
        empty out). Reading only these keeps a one-province plan cheap."""
        day = self.effective - timedelta(days=1)
        wanted = set(found)
        level = wanted
        while level:
            views = entries_on(self.session, LIST, day, codes=level - set(self.current))
            self.current.update((v.code, v) for v in views)
            level = {v.parent for v in views if v.parent is not None} - set(self.current)
        districts = {v.code for v in self.current.values() if v.level == "district"}
        for view in entries_on(self.session, LIST, day, parents=districts):
            self.current.setdefault(view.code, view)
        self.wanted = wanted

    def error(self, link: Link, column: str, rule: str, message: str) -> None:
        self.errors.append(ValidationError(f"{self.source}:{link.line}: {column}", rule,
                                           message))

    def successors(self) -> dict[str, Successors]:
        """The old units this plan converts, each with every row of the table that names
        it (in any province); rows naming an area without a code become notes."""
        table = self.table
        codes = (list(table.by_source) if self.province is None
                 else table.sources_by_province.get(self.province, []))
        uncoded = [f"line {lk.line} ({lk.old_name} → {lk.new_code})" for lk in table.links
                   if lk.source is None
                   and (self.province is None or lk.new_province == self.province)]
        if uncoded:
            self.notes.append(f"{len(uncoded)} row(s) name an area without a code; no lineage "
                              f"link is recorded for them: {'; '.join(uncoded)}")
        return {code: Successors(code, list(table.by_source[code])) for code in codes}

    def check_sources(self, found: dict[str, Successors]) -> None:
        disagree: list[str] = []
        renamed: list[str] = []
        for old, item in found.items():
            link = item.links[0]
            have = self.current.get(old)
            column = "Mã Xã cũ" if link.old_code else "Quận/huyện"
            if have is None:
                self.error(link, column, "unknown",
                           f"{old} is not an active unit on "
                           f"{(self.effective - timedelta(days=1)).isoformat()}")
                continue
            if link.old_code and have.parent != link.old_district:
                disagree.append(f"line {link.line}: {old} is under {have.parent} in the "
                                f"registry, the table says {link.old_district}")
            if link.old_code and link.old_name and link.old_name != have.name:
                renamed.append(f"{old} {have.name!r} / {link.old_name!r}")
            provinces = {lk.new_province for lk in item.links}
            if self.province is not None and self.province in provinces and len(provinces) > 1:
                self.error(link, "Tỉnh, thành phố", "scope",
                           f"{old} went to provinces {', '.join(sorted(provinces))}: import "
                           "the whole table as one change set")
        if disagree:
            self.notes.append(f"{len(disagree)} district(s) of the table differ from the "
                              f"registry, which is followed: {'; '.join(disagree[:5])}")
        if renamed:
            self.notes.append(f"{len(renamed)} old name(s) are spelt differently in the table "
                              f"(the registry's are kept): {'; '.join(renamed[:5])}"
                              + (" …" if len(renamed) > 5 else ""))

    def build(self, plan: ImportPlan) -> None:
        found = self.successors()
        self.read_current(found)
        self.check_sources(found)
        if self.errors:
            raise ValidationErrors(self.errors)
        links = [lk for lk in self.table.links
                 if self.province is None or lk.new_province == self.province]
        if not links:
            raise ValidationError("--province", "unknown",
                                  f"the table has no new commune in province {self.province}")
        new_names = self.table.new_names
        rules: Counter[str] = Counter()
        for item in found.values():
            if item.divided:
                have = self.current.get(item.old)
                choose_default(item, new_names, have.name if have else item.links[0].old_name)
                rules[item.rule or ""] += 1
        by_new: dict[str, list[Link]] = defaultdict(list)
        for link in links:
            by_new[link.new_code].append(link)
        sources_in_plan: set[str] = set()
        for new_code in sorted(by_new):
            rows = by_new[new_code]
            first = rows[0]
            sources: list[str | dict[str, Any]] = []
            for link in rows:
                old = link.source
                if old is None or old in {s if isinstance(s, str) else s["code"]
                                          for s in sources}:
                    continue
                sources.append(_source(found[old], new_code))
                sources_in_plan.add(old)
            type_, name = _new_type(first, self.errors, self.source, self.notes)
            if not sources or not type_:
                if not sources:
                    self.error(first, "Mã Xã cũ", "required",
                               f"{new_code} has no predecessor with a code")
                continue
            target = {"code": new_code, "name": name, "type": type_,
                      "parent": first.new_province, "short_name": short_name(name)}
            plan.add({"op": "merge", "list": LIST, "sources": sources, "target": target},
                     first.new_province, self._describe(sources, target))
        if self.errors:
            raise ValidationErrors(self.errors)
        self._retire_districts(plan, sources_in_plan)
        self._provinces(plan, links, sources_in_plan)
        mine = [found[old] for old in self.wanted]
        divided = sum(1 for item in mine if item.divided)
        continuing = sum(1 for item in mine if item.divided and item.old in new_names)
        targets = {lk.new_code for lk in links}
        plan.notes.insert(0, f"{len(mine)} old units → {len(targets)} new communes; "
                             f"{divided} divided ({continuing} of them keep their code); "
                             "defaults: " + (", ".join(f"{rule} {rules[rule]}"
                                                       for rule in DEFAULT_RULES if rules[rule])
                                             or "none"))
        plan.notes.extend(f"table fix: {text}" for code, text in self.table.corrections
                          if code in targets)
        plan.notes.extend(self.notes)

    def _describe(self, sources: list[str | dict[str, Any]], target: dict[str, Any]) -> str:
        parts = []
        for s in sources:
            code = s if isinstance(s, str) else s["code"]
            name = self.current[code].name if code in self.current else ""
            tag = "" if isinstance(s, str) else \
                f" ({s['kind']}{', default' if s['default'] else ''})"
            parts.append(f"{code} {name}{tag}")
        return f"{', '.join(parts)} → {target['code']} {target['name']}"

    def _retire_districts(self, plan: ImportPlan, sources: set[str]) -> None:
        """A district whose every unit leaves it in this set disappears: retire it."""
        children: dict[str, list[str]] = defaultdict(list)
        for view in self.current.values():
            if view.parent is not None:
                children[view.parent].append(view.code)
        for view in sorted(self.current.values(), key=lambda v: v.code):
            if view.level != "district" or view.code in sources:
                continue
            kids = children.get(view.code, [])
            if kids and all(k in sources for k in kids):
                plan.add({"op": "retire", "list": LIST, "code": view.code},
                         _province_of(view.code, self.current) or "",
                         f"{view.code} {view.name} ({view.type})")

    def _provinces(self, plan: ImportPlan, links: list[Link], sources: set[str]) -> None:
        """Old provinces merge into the new one; a province that continues may be renamed."""
        olds: dict[str, set[str]] = defaultdict(set)
        names: dict[str, str] = {}
        for link in links:
            old = link.source
            if old is None or old not in sources:
                continue
            top = _province_of(old, self.current)
            if top is not None:
                olds[link.new_province].add(top)
            names[link.new_province] = link.new_province_name
        for code in sorted(olds):
            name = names[code]
            target = {"code": code, "name": name, "type": province_type(name),
                      "short_name": short_name(name)}
            have = self.current.get(code)
            if olds[code] != {code}:
                merged = sorted(olds[code])
                plan.add({"op": "merge", "list": LIST, "sources": merged, "target": target},
                         code, f"{', '.join(f'{c} {self.current[c].name}' for c in merged)}"
                               f" → {code} {name}")
            elif have is not None and (have.name, have.type) != (name, target["type"]):
                if have.name != name:
                    plan.add({"op": "rename", "list": LIST, "code": code, "name": name,
                              "short_name": target["short_name"]}, code,
                             f"{code} {have.name} → {name}")
                if have.type != target["type"]:
                    plan.add({"op": "reclassify", "list": LIST, "code": code,
                              "type": target["type"]}, code,
                             f"{code} {name}: {have.type} → {target['type']}")


def plan_conversion(session: Session, table: ConversionTable, effective: date,
                    province: str | None = None) -> ImportPlan:
    """The reform change set that ``table`` describes, effective ``effective``.

    ``province`` limits it to the new communes of one new province (one resolution each
    in 2025); an old unit divided across provinces then refuses the limit.
    """
    n = len(table.links)
    scope = (f"new province {province} of the table" if province is not None
             else f"the whole table ({len(table.provinces())} new provinces)")
    plan = ImportPlan(LIST, table.source, effective, n, scope)
    _Builder(session, table, effective, province).build(plan)
    return plan
