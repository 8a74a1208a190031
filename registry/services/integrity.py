"""Whole-database checks of the invariants (DESIGN §4), for `registry verify` and the tests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import CodeList, EntryVersion
from registry.services.planner import MAX_DEPTH
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
    """Cycles in the hierarchy on some date.

    A cycle can only begin when one of its versions begins, so walking up from each active
    version on its first day finds every one; edges of different dates never join (A under
    B until 2025 and B under A after it is no cycle).
    """
    problems: list[str] = []
    reported: set[frozenset[str]] = set()
    for code, versions in by_code.items():
        for version in versions:
            if version.status != "active" or version.parent is None:
                continue
            day, path, cursor = version.start, [code], version.parent
            for _ in range(MAX_DEPTH):
                if cursor == code:
                    if frozenset(path) not in reported:
                        reported.add(frozenset(path))
                        problems.append(f"{key}: cycle {' → '.join([*path, code])} on {day}")
                    break
                above = _on(by_code.get(cursor, []), day)
                if above is None or above.parent is None or cursor in path:
                    break  # the top, or a cycle that its own members report
                path.append(cursor)
                cursor = above.parent
    return problems


def _on(spans: list[_Span], day: date) -> _Span | None:
    return next((s for s in spans if s.status == "active" and s.start <= day < s.end), None)
