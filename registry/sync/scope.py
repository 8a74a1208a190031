"""Scoped views: the entry versions and links of a list that belong to a scope at a release.

An entry version belongs to the scope ``LIST:CODE`` when the entry is ``CODE``, or when on
some day of the version's validity one of its ancestors (as valid on that day) is ``CODE``.
So a commune moved from province A to province B on day T stays in A's replica up to T
(A's history still answers "as of" questions before T) and is in B's replica from T on;
a version whose whole validity is outside the scope is not in it, and one that leaves the
scope by a correction is removed. A lineage link belongs to the scope when either end does.

The computation walks down from the scope code, carrying for each entry the set of days on
which it lies under the scope. It needs only (id, code, validity, parent) of the list's
versions at the release, and the result is immutable, so it is cached by the server.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import EntryVersion, LineageLink
from registry.services.checksums import visible_at

INF = date.max.toordinal() + 1
Spans = list[tuple[int, int]]
Key = tuple[str, str]


def _intersect(start: int, end: int, spans: Spans) -> Spans:
    return [(max(start, a), min(end, b)) for a, b in spans if max(start, a) < min(end, b)]


def _union(spans: Spans, more: Spans) -> Spans:
    merged: Spans = []
    for a, b in sorted(spans + more):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass(frozen=True)
class ScopedView:
    """Which rows of one list are in a scope at one release."""

    list_id: int
    list_key: str
    code: str
    release: int
    version_ids: list[int]  # sorted
    key_ids: dict[Key, int]  # (code, valid_from ISO) → row id
    key_release: dict[Key, int]  # (code, valid_from ISO) → recorded release
    link_ids: list[int]  # sorted
    link_keys: dict[tuple[str, str, str], int]  # (from, to, effective ISO) → row id


def compute_view(session: Session, list_id: int, list_key: str, code: str,
                 release: int) -> ScopedView:
    """The scoped view of one list at ``release`` (see the module docstring)."""
    V = EntryVersion
    rows = session.connection().execute(
        select(V.id, V.code, V.valid_from, V.valid_to, V.parent_code, V.recorded_release)
        .where(V.list_id == list_id, visible_at(release))
    ).all()
    children: dict[str, list[tuple[int, str, int, int]]] = defaultdict(list)
    for row_id, row_code, start, end, parent, _ in rows:
        if parent is not None:
            children[parent].append((row_id, row_code, start.toordinal(),
                                     end.toordinal() if end else INF))
    spans: dict[str, Spans] = {code: [(0, INF)]}
    inside = {row[0] for row in rows if row[1] == code}
    work = [code]
    while work:
        parent = work.pop()
        for row_id, child, start, end in children.get(parent, ()):
            part = _intersect(start, end, spans[parent])
            if not part:
                continue
            inside.add(row_id)
            if child == code:
                continue
            merged = _union(spans.get(child, []), part)
            if merged != spans.get(child):
                spans[child] = merged
                work.append(child)
    key_ids: dict[Key, int] = {}
    key_release: dict[Key, int] = {}
    codes: set[str] = set()
    for row_id, row_code, start, _, _, recorded in rows:
        if row_id in inside:
            key = (row_code, start.isoformat())
            key_ids[key] = row_id
            key_release[key] = recorded
            codes.add(row_code)
    L = LineageLink
    link_keys: dict[tuple[str, str, str], int] = {}
    for link_id, from_code, to_code, effective in session.connection().execute(
        select(L.id, L.from_code, L.to_code, L.effective_date)
        .where(L.list_id == list_id, L.release_id <= release)
    ):
        if from_code in codes or to_code in codes:
            link_keys[(from_code, to_code, effective.isoformat())] = link_id
    return ScopedView(list_id=list_id, list_key=list_key, code=code, release=release,
                      version_ids=sorted(inside), key_ids=key_ids, key_release=key_release,
                      link_ids=sorted(link_keys.values()), link_keys=link_keys)
