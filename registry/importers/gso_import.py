"""Planning a GSO import: the operations that make the registry say what the file says.

:mod:`registry.importers.gso` reads the file; :mod:`registry.services.gso_diff` computes
the difference; this module scopes it (the provinces in the file, or the whole list),
labels each operation with its province, and describes it for the reviewer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session

from registry.importers.gso import WIDTHS, GsoFile, Unit, short_name
from registry.importers.plans import ImportPlan, describe
from registry.services.gso_diff import (
    Desired,
    Options,
    current_state,
    diff_operations,
    in_scope,
    top_ancestor,
)
from registry.services.queries import EntryView

LIST = "admin-units"


def _grouper(units: dict[str, Unit], current: dict[str, EntryView]) -> Callable[[str], str]:
    """Labels the province an operation on a code belongs to, as "01 Thành phố Hà Nội".

    The file's hierarchy decides for units it names, the registry's for the others.
    """
    in_file = {c: u.parent for c, u in units.items()}
    in_registry = {c: v.parent for c, v in current.items()}

    def group(code: str) -> str:
        top = top_ancestor(code, in_file if code in units else in_registry)
        name = units[top].name if top in units else current[top].name if top in current else ""
        return f"{top} {name}".strip()

    return group


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def plan_gso_import(session: Session, parsed: GsoFile, effective: date,
                    whole_country: bool = False) -> ImportPlan:
    """The operations that turn the registry on ``effective`` into the file's state.

    Only the provinces the file names are in scope, so a file for one province retires
    nothing elsewhere; ``whole_country`` makes the file the whole list, and retires every
    unit it leaves out. Codes named by bad rows are never retired.
    """
    current = current_state(session, LIST, effective)
    tops = None if whole_country else set(parsed.provinces())
    protected = {code for bad in parsed.bad for code in bad.codes}
    retire = [code for code in in_scope(current, tops) if code not in protected]
    desired = [Desired(u.code, u.name, u.type, u.level, u.parent, None, u.name_en)
               for u in parsed.units.values()]
    ops = diff_operations(LIST, current, desired, retire, Options(short_name_of=short_name))
    n = len(tops or ())
    scope = ("the whole list: units missing from the file are retired" if whole_country
             else f"the {n} province{'' if n == 1 else 's'} in the file: units under "
                  f"{'it' if n == 1 else 'them'} that the file leaves out are retired")
    plan = ImportPlan(LIST, parsed.source, effective, parsed.rows, scope, bad=list(parsed.bad))
    counts = parsed.counts()
    plan.notes.append(
        f"layout: {'with districts' if parsed.layout == 'districts' else 'without districts'}; "
        + ", ".join(_count(counts.get(level, 0), level) for level in WIDTHS))
    plan.notes.extend(parsed.warnings)
    names = {code: unit.name for code, unit in parsed.units.items()}
    group = _grouper(parsed.units, current)
    for op in ops:
        plan.add(op, group(op["code"]), describe(op, current, names))
    return plan
