"""Whole-database checks of the invariants (DESIGN §4), for `registry verify` and the tests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import CodeList, EntryVersion
from registry.services.queries import visible_at

FAR = date.max


@dataclass(frozen=True)
class _Span:
    code: str
    start: date
    end: date
    status: str
    parent: str | None


def check_invariants(session: Session, release: int | None = None) -> list[str]:
    """Problems in the records at ``release`` (default latest): overlaps, orphans, cycles."""
    problems: list[str] = []
    lists = {c.id: c.key for c in session.scalars(select(CodeList))}
    rows = session.execute(
        select(EntryVersion.list_id, EntryVersion.code, EntryVersion.valid_from,
               EntryVersion.valid_to, EntryVersion.status, EntryVersion.parent_code)
        .where(visible_at(release))
        .order_by(EntryVersion.list_id, EntryVersion.code, EntryVersion.valid_from)
    )
    spans: dict[str, dict[str, list[_Span]]] = defaultdict(lambda: defaultdict(list))
    for list_id, code, start, end, status, parent in rows:
        spans[lists[list_id]][code].append(_Span(code, start, end or FAR, status, parent))
    for key, by_code in spans.items():
        for code, versions in by_code.items():
            for a, b in pairwise(versions):
                if b.start < a.end:
                    problems.append(f"{key} {code}: versions from {a.start} and {b.start} overlap")
            for v in versions:
                if v.status != "active" or v.parent is None:
                    continue
                if not _covered(by_code.get(v.parent, []), v.start, v.end):
                    problems.append(f"{key} {code}: parent {v.parent} is not active over "
                                    f"[{v.start}, {v.end if v.end != FAR else '…'})")
        problems.extend(_cycles(key, by_code))
    return problems


def _covered(parent: list[_Span], start: date, end: date) -> bool:
    cursor = start
    for span in parent:
        if span.status != "active" or span.end <= cursor:
            continue
        if span.start > cursor:
            return False
        cursor = span.end
        if cursor >= end:
            return True
    return cursor >= end


def _cycles(key: str, by_code: dict[str, list[_Span]]) -> list[str]:
    parent_of = {code: {v.parent for v in versions if v.parent} for code, versions in
                 by_code.items()}
    problems = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(code: str, path: list[str]) -> None:
        state[code] = 1
        for parent in parent_of.get(code, ()):
            if state.get(parent) == 1:
                problems.append(f"{key}: cycle {' → '.join([*path, code, parent])}")
            elif parent not in state:
                visit(parent, [*path, code])
        state[code] = 2

    for code in parent_of:
        if code not in state:
            visit(code, [])
    return problems
