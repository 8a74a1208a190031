"""Code lists as data: define them, read their rules (DESIGN §3)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import NotFound, ValidationError
from registry.models import CodeList
from registry.services.actors import Actor
from registry.services.list_rules import ListRules, compile_definition
from registry.services.releases import close_release, open_release
from registry.text import check_tree

BUILTIN_LISTS = ("admin-units", "agencies", "procedures")


def list_definition_record(definition: dict[str, Any]) -> dict[str, Any]:
    """The feed record that carries a list definition to replicas."""
    return {"t": "list", "key": definition["key"], "definition": definition}


def define_lists(session: Session, actor: Actor, definitions: list[dict[str, Any]]) -> int:
    """Define new lists, or change existing ones, in one release; return its number."""
    actor.require_role("admin")
    for index, definition in enumerate(definitions):
        check_tree(definition, f"lists[{index}]")  # names, types, patterns: text only
    compiled = [compile_definition(d) for d in definitions]
    existing = {c.key: c for c in session.scalars(select(CodeList))}
    keys = [c.key for c in compiled] + [c.key for c in existing.values()]
    for rules in compiled:
        for name, spec in rules.attributes.items():
            if spec["type"] == "ref" and spec["list"] not in keys:
                raise ValidationError(
                    f"attributes.{name}.list", "unknown_list", f"no code list '{spec['list']}'"
                )
    release = open_release(session, actor.name, "code lists: " + ", ".join(c.key for c in compiled))
    for rules in compiled:
        d = rules.definition
        row = existing.get(rules.key)
        if row is None:
            session.add(CodeList(key=rules.key, name=d["name"], name_en=d.get("name_en"),
                                 owner=d.get("owner"), definition=d, release_id=release.number))
        else:
            row.name, row.name_en, row.owner = d["name"], d.get("name_en"), d.get("owner")
            row.definition, row.release_id = d, release.number
        release.feed.append(list_definition_record(d))
    session.flush()
    close_release(session, release, {"lists": len(compiled)},
                  {"change_set": None, "note": "code lists"})
    _cache.clear()
    return release.number


def builtin_definitions(keys: tuple[str, ...] = BUILTIN_LISTS) -> list[dict[str, Any]]:
    """The bundled definitions of the built-in lists."""
    base = resources.files("registry") / "data" / "lists"
    return [json.loads((base / f"{key}.json").read_text("utf-8")) for key in keys]


def ensure_builtin_lists(session: Session, actor: Actor) -> int | None:
    """Define the built-in lists that are missing; return the release, if one was made."""
    present = set(session.scalars(select(CodeList.key)))
    missing = [d for d in builtin_definitions() if d["key"] not in present]
    return define_lists(session, actor, missing) if missing else None


def get_list(session: Session, key: str) -> CodeList:
    """The list ``key``; :class:`NotFound` names the known ones."""
    row = session.scalars(select(CodeList).where(CodeList.key == key)).one_or_none()
    if row is None:
        known = ", ".join(session.scalars(select(CodeList.key).order_by(CodeList.key)))
        raise NotFound(f"no code list '{key}' (known: {known or 'none'})")
    return row


def all_lists(session: Session) -> list[CodeList]:
    """Every list, by key."""
    return list(session.scalars(select(CodeList).order_by(CodeList.key)))


_cache: dict[tuple[str, int], ListRules] = {}


def rules_for(code_list: CodeList) -> ListRules:
    """Compiled rules of a list, cached per list and defining release."""
    key = (code_list.key, code_list.release_id)
    rules = _cache.get(key)
    if rules is None or rules.definition != code_list.definition:
        if len(_cache) > 256:
            _cache.clear()
        rules = _cache[key] = ListRules(code_list.definition)
    return rules
