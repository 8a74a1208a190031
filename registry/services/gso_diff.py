"""From "what a file says the list is" to the operations that make the registry say so.

An import states the desired state of entries; the registry holds the current one on the
effective date. The difference is a list of ordinary operations (docs/changeset-format.md):

* ``create`` for codes the registry does not hold on that date;
* ``rename``, ``reclassify``, ``move`` and ``update`` for entries that differ;
* ``retire`` for entries in scope that the file leaves out, children before parents.

A file cannot say which old unit became which new one, so an import records no lineage:
restructurings with their links come from change-set files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.services.export_reads import entries_on
from registry.services.queries import EntryView


@dataclass(frozen=True)
class Desired:
    """The state a file gives one entry. ``None`` means "the file does not say"."""

    code: str
    name: str
    type: str
    level: str | None = None
    parent: str | None = None
    short_name: str | None = None
    name_en: str | None = None
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class Options:
    """How to compare: which fields the file speaks for."""

    compare_parent: bool = True
    # Renames also set the short name (a GSO file has none: it is derived from the name).
    short_name_of: Callable[[str], str] | None = None


def current_state(session: Session, list_key: str, on: date) -> dict[str, EntryView]:
    """Active entries of the list on ``on``, as the latest release says: code → version."""
    return {view.code: view for view in entries_on(session, list_key, on)}


def _create(list_key: str, want: Desired, options: Options) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "create", "list": list_key, "code": want.code,
                          "name": want.name, "type": want.type}
    if want.parent is not None:
        op["parent"] = want.parent
    short = want.short_name or (options.short_name_of(want.name)
                                if options.short_name_of else None)
    if short is not None:
        op["short_name"] = short
    if want.name_en is not None:
        op["name_en"] = want.name_en
    if want.attributes:
        op["attributes"] = {k: v for k, v in want.attributes.items() if v is not None}
    return op


def _changes(list_key: str, have: EntryView, want: Desired,
             options: Options) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    rename: dict[str, Any] = {}
    if want.name != have.name:
        rename["name"] = want.name
        if want.short_name is None and options.short_name_of is not None:
            short = options.short_name_of(want.name)
            if short != have.short_name:
                rename["short_name"] = short
    if want.short_name is not None and want.short_name != have.short_name:
        rename["short_name"] = want.short_name
    if want.name_en is not None and want.name_en != have.name_en:
        rename["name_en"] = want.name_en
    if rename:
        ops.append({"op": "rename", "list": list_key, "code": have.code,
                    "name": rename.pop("name", have.name), **rename})
    if want.type != have.type:
        ops.append({"op": "reclassify", "list": list_key, "code": have.code, "type": want.type})
    if options.compare_parent and want.parent != have.parent:
        ops.append({"op": "move", "list": list_key, "code": have.code, "parent": want.parent})
    if want.attributes is not None:
        changed = {k: v for k, v in want.attributes.items() if have.attributes.get(k) != v}
        if changed:
            ops.append({"op": "update", "list": list_key, "code": have.code,
                        "attributes": changed})
    return ops


def depth_of(code: str, parents: dict[str, str | None]) -> int:
    """How many ancestors ``code`` has in ``parents`` (cycles stop the count)."""
    depth, seen, cursor = 0, {code}, parents.get(code)
    while cursor is not None and cursor not in seen:
        seen.add(cursor)
        depth += 1
        cursor = parents.get(cursor)
    return depth


def diff_operations(list_key: str, current: dict[str, EntryView],
                    desired: Iterable[Desired], retire: Iterable[str] = (),
                    options: Options | None = None) -> list[dict[str, Any]]:
    """Operations that turn ``current`` into ``desired``, retiring the codes in ``retire``.

    Order: creates (parents first), then changes to existing entries, then retirements
    (children first), so that a reader sees a country built top-down and dismantled
    bottom-up; the planner itself checks the end state, not the order.
    """
    options = options or Options()
    wanted = list(desired)
    wanted_codes = {w.code for w in wanted}
    parents = {w.code: w.parent for w in wanted}
    creates = [w for w in wanted if w.code not in current]
    creates.sort(key=lambda w: (depth_of(w.code, parents), w.code))
    ops = [_create(list_key, w, options) for w in creates]
    for want in wanted:
        have = current.get(want.code)
        if have is not None:
            ops.extend(_changes(list_key, have, want, options))
    current_parents = {code: view.parent for code, view in current.items()}
    gone = [code for code in set(retire) if code in current and code not in wanted_codes]
    gone.sort(key=lambda c: (-depth_of(c, current_parents), c))
    ops.extend({"op": "retire", "list": list_key, "code": code} for code in gone)
    return ops


def top_ancestor(code: str, parents: dict[str, str | None]) -> str:
    """The top of ``code``'s hierarchy in ``parents`` (itself when it has no parent)."""
    seen, cursor = {code}, code
    while (parent := parents.get(cursor)) is not None and parent not in seen:
        seen.add(parent)
        cursor = parent
    return cursor


def in_scope(current: dict[str, EntryView], tops: set[str] | None) -> list[str]:
    """Codes of ``current`` under one of ``tops`` (``None``: the whole list)."""
    if tops is None:
        return list(current)
    parents = {code: view.parent for code, view in current.items()}
    return [code for code in current if top_ancestor(code, parents) in tops]
