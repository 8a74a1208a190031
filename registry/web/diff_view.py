"""A change set's plan as the review page shows it: grouped by operation, problems attached.

Each change is shown under the first operation that touched it; each link under the
operation that made it; each validation problem under the operation its field names
(``operations[3]…``), the rest at the top.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from registry.errors import ValidationError
from registry.services.planner import Change, Link, Plan
from registry.web.i18n import Translator

_OP_INDEX = re.compile(r"^operations\[(\d+)\](?:\.(.*))?$")
SHOWN_FIELDS = ("name", "short_name", "name_en", "type", "level", "parent", "status",
                "attributes")


@dataclass(frozen=True)
class FieldChange:
    """One field before and after."""

    name: str
    before: str
    after: str


@dataclass(frozen=True)
class ChangeView:
    """One entry's change, for the diff table."""

    list_key: str
    code: str
    kind: str
    name: str
    fields: list[FieldChange]
    exists_before: bool


@dataclass(frozen=True)
class Problem:
    """A validation problem, with the part of the operation it names."""

    where: str
    rule: str
    message: str


@dataclass
class OpView:
    """One operation with what it changes and what is wrong with it."""

    index: int
    op_id: int | None
    payload: dict[str, Any]
    summary: str
    changes: list[ChangeView] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def show_value(value: Any) -> str:
    """A field value as text: empty for nothing, JSON for attributes."""
    if value is None or value == {}:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def change_view(change: Change) -> ChangeView:
    """The changed fields of one entry, before and after."""
    after = change.after.as_dict()
    before = change.before.as_dict() if change.before else {}
    names = [f for f in SHOWN_FIELDS if f in change.changed_fields()]
    return ChangeView(change.list_key, change.code, change.kind, change.after.name,
                      [FieldChange(f, show_value(before.get(f)), show_value(after.get(f)))
                       for f in names], change.before is not None)


def describe(t: Translator, op: dict[str, Any]) -> str:
    """One line that says what an operation does."""
    kind = op.get("op", "")
    if kind == "create":
        return t("op.describe.create", code=op["code"], name=op["name"], type=op["type"])
    if kind == "rename":
        return t("op.describe.rename", code=op["code"], name=op["name"])
    if kind == "move":
        return t("op.describe.move", code=op["code"], parent=op["parent"])
    if kind == "retire":
        return t("op.describe.retire", code=op["code"])
    if kind == "correct" and op.get("new_code"):
        return t("op.describe.correct_code", code=op["code"], new_code=op["new_code"])
    if kind == "merge":
        sources = ", ".join(s["code"] for s in op["sources"])
        return t("op.describe.merge", sources=sources, code=op["target"]["code"],
                 name=op["target"]["name"])
    if kind == "split":
        targets = ", ".join(f"{x['code']} {x['name']}" for x in op["targets"])
        return t("op.describe.split", source=op["source"], targets=targets)
    code = op.get("code") or op.get("source") or op.get("from") or ", ".join(
        str(s) for s in op.get("sources", []))
    return t("op.describe.other", op=t(f"op.{kind}"), code=code)


def split_problems(errors: list[ValidationError]) -> tuple[dict[int, list[Problem]],
                                                           list[Problem]]:
    """Problems by operation index, and those that name no operation."""
    by_op: dict[int, list[Problem]] = {}
    general: list[Problem] = []
    for error in errors:
        found = _OP_INDEX.match(error.field)
        if found:
            by_op.setdefault(int(found.group(1)), []).append(
                Problem(found.group(2) or "", error.rule, error.detail))
        else:
            general.append(Problem(error.field, error.rule, error.detail))
    return by_op, general


def op_views(t: Translator, payloads: list[tuple[int | None, dict[str, Any]]],
             plan: Plan | None) -> tuple[list[OpView], list[Problem]]:
    """Every operation with its changes, links and problems; and the general problems."""
    views = [OpView(i, op_id, payload, describe(t, payload))
             for i, (op_id, payload) in enumerate(payloads)]
    if plan is None:
        return views, []
    for change in sorted(plan.changes.values(), key=lambda c: (min(c.ops or [0]), c.code)):
        first = min(change.ops or [0])
        if first < len(views):
            views[first].changes.append(change_view(change))
    for link in plan.links:
        if link.op < len(views):
            views[link.op].links.append(link)
    by_op, general = split_problems(plan.errors)
    for index, problems in by_op.items():
        if index < len(views):
            views[index].problems.extend(problems)
        else:
            general.extend(problems)
    return views, general
