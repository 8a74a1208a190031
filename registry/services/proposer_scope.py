"""A proposer's scope, and the rule that keeps every operation of its proposals inside it.

A scope is a province (or any unit) of the administrative units, ``admin-units:15``: the
unit, everything under it on the effective date, and the agencies attached to one of those
(their ``admin_unit`` attribute); or a whole list, ``agencies``. The rule is checked by the
change-set service when operations are added and again when the set is submitted, so the
web UI, GraphQL and the command line refuse exactly the same operations, each named with
its field and the rule ``scope``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.services.actors import AGENCIES, UNITS, Actor
from registry.services.code_lists import all_lists
from registry.services.queries import get_entry

RULE = "scope"


def parse_token_scope(session: Session, raw: str) -> str:
    """The stored form of a scope given as ``15``, ``admin-units:15`` or a list key; the
    unit or list must exist."""
    text = raw.strip()
    known = [row.key for row in all_lists(session)]
    if ":" not in text and text in known:
        return text
    list_key, _, code = text.rpartition(":")
    list_key = list_key or UNITS
    if list_key != UNITS:
        raise ValidationError("scope", "pattern",
                              f"'{raw}' is not a scope: use a unit of {UNITS} (15 or "
                              f"{UNITS}:15) or a list key ({', '.join(known)})")
    if get_entry(session, UNITS, code) is None:
        raise ValidationError("scope", "not_found", f"no unit '{code}' in {UNITS} today")
    return f"{UNITS}:{code}"


def anchors(op: dict[str, Any]) -> list[str]:
    """The existing codes an operation acts on or under (a new code is judged by its
    parent)."""
    kind = op["op"]
    if kind == "create":
        return [op["parent"] or op["code"]]
    if kind in ("update", "rename", "reclassify", "retire"):
        return [op["code"]]
    if kind in ("move", "correct"):
        return [op["code"], *([op["parent"]] if op.get("parent") else [])]
    if kind == "transfer":
        return [op["from"], op["to"]]
    sources = ([op["source"]] if kind == "split" else
               [s["code"] if isinstance(s, dict) else s for s in op["sources"]])
    targets = op["targets"] if kind != "merge" else [op["target"]]
    return [*sources, *(t.get("parent") or t["code"] for t in targets)]


def _under(session: Session, unit: str, code: str, day: date) -> bool:
    seen: set[str] = set()
    current: str | None = code
    while current is not None and current not in seen:
        if current == unit:
            return True
        seen.add(current)
        entry = get_entry(session, UNITS, current, day)
        current = entry.parent if entry is not None else None
    return False


def _agency_unit(session: Session, op: dict[str, Any], day: date) -> str | None:
    attributes = op.get("attributes") or {}
    if op["op"] == "create" or "admin_unit" in attributes:
        value = attributes.get("admin_unit")
        return str(value) if value else None
    entry = get_entry(session, AGENCIES, op.get("code") or "", day)
    value = entry.attributes.get("admin_unit") if entry is not None else None
    return str(value) if value else None


def outside_scope(session: Session, actor: Actor, effective: date,
                  operations: list[dict[str, Any]], first_index: int = 0
                  ) -> list[ValidationError]:
    """One error per operation of a proposer's that leaves its scope (none for others)."""
    if actor.role != "proposer":
        return []
    scope = actor.scope or ""
    errors: list[ValidationError] = []
    for i, op in enumerate(operations):
        where = f"operations[{first_index + i}]"
        if ":" not in scope:
            if op["list"] != scope:
                errors.append(ValidationError(
                    where, RULE, f"'{op['op']}' is on the list '{op['list']}'; "
                                 f"{actor.name} proposes changes to '{scope}' only"))
            continue
        unit = scope.split(":", 1)[1]
        if op["list"] == AGENCIES and op["op"] in ("create", "update", "rename", "retire",
                                                     "correct", "reclassify"):
            attached = _agency_unit(session, op, effective)
            if attached is None or not _under(session, unit, attached, effective):
                errors.append(ValidationError(
                    where, RULE, f"'{op['op']}' of agency '{op.get('code')}': its admin_unit "
                                 f"'{attached or ''}' is not within {scope} on "
                                 f"{effective.isoformat()}"))
            continue
        if op["list"] != UNITS:
            errors.append(ValidationError(
                where, RULE, f"'{op['op']}' is on the list '{op['list']}', outside {scope}"))
            continue
        outside = [code for code in anchors(op) if not _under(session, unit, code, effective)]
        if outside:
            errors.append(ValidationError(
                where, RULE, f"'{op['op']}' touches '{outside[0]}', which is not within "
                             f"{scope} on {effective.isoformat()}"))
    return errors
