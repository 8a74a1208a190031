"""Whole-list reads in one statement each, for exports and importers' diffs.

:mod:`registry.services.queries` pages through a list 1,000 rows at a time, which is right
for an API and slow for a 10,000-row export; these read a whole list at once with the same
time rules (``visible_at`` for record time, ``valid_on`` for valid time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.config import today
from registry.errors import ValidationError
from registry.models import CodeList, EntryVersion, LineageLink
from registry.services.queries import (
    EntryView,
    LinkView,
    Resolution,
    latest_release,
    resolution_of,
    valid_on,
    visible_at,
)

V = EntryVersion
_COLUMNS = (V.id, CodeList.key, V.code, V.name, V.short_name, V.name_en, V.type, V.level,
            V.parent_code, V.status, V.valid_from, V.valid_to, V.attributes,
            V.recorded_release, V.superseded_release, V.change_set_id)


def check_release(session: Session, at_release: int | None) -> int:
    """The release a read answers for: ``at_release`` if it exists, else the latest."""
    latest = latest_release(session)
    if at_release is None:
        return latest
    if at_release < 1 or at_release > latest:
        raise ValidationError("atRelease", "range",
                              f"release {at_release} does not exist (latest is {latest})")
    return at_release


def _visible(session: Session, at_release: int | None) -> int | None:
    release = check_release(session, at_release)
    # The latest release reads current records through the cheaper IS NULL test.
    return None if release == latest_release(session) else release


def entries_on(session: Session, list_key: str, as_of: date | None = None,
               at_release: int | None = None,
               statuses: Sequence[str] | None = ("active",), *,
               codes: Collection[str] | None = None,
               parents: Collection[str] | None = None) -> list[EntryView]:
    """Every version of the list valid on ``as_of`` as said at ``at_release``, by code;
    only those with one of ``codes``, or under one of ``parents``, when given."""
    query = (select(*_COLUMNS).join(CodeList, CodeList.id == V.list_id)
             .where(CodeList.key == list_key, visible_at(_visible(session, at_release)),
                    valid_on(as_of or today()))
             .order_by(V.code))
    if statuses is not None:
        query = query.where(V.status.in_(list(statuses)))
    if codes is not None:
        query = query.where(V.code.in_(sorted(codes)))
    if parents is not None:
        query = query.where(V.parent_code.in_(sorted(parents)))
    return [EntryView(*row) for row in session.execute(query)]


def all_versions(session: Session, list_key: str,
                 at_release: int | None = None) -> list[EntryView]:
    """Every version of every entry of the list as said at ``at_release``: full history."""
    query = (select(*_COLUMNS).join(CodeList, CodeList.id == V.list_id)
             .where(CodeList.key == list_key, visible_at(_visible(session, at_release)))
             .order_by(V.code, V.valid_from))
    return [EntryView(*row) for row in session.execute(query)]


def all_links(session: Session, list_key: str, at_release: int | None = None,
              until: date | None = None) -> list[LinkView]:
    """Every lineage link of the list recorded by ``at_release`` and effective by ``until``."""
    L = LineageLink
    query = (select(L.from_code, L.to_code, L.kind, L.is_default, L.share, L.effective_date,
                    L.change_set_id, L.release_id)
             .join(CodeList, CodeList.id == L.list_id)
             .where(CodeList.key == list_key)
             .order_by(L.effective_date, L.from_code, L.to_code))
    release = check_release(session, at_release)
    query = query.where(L.release_id <= release)
    if until is not None:
        query = query.where(L.effective_date <= until)
    return [LinkView(from_code=a, to_code=b, kind=kind, is_default=default, share=share,
                     effective_date=day, change_set_id=cs, release=rel, depth=1)
            for a, b, kind, default, share, day, cs, rel in session.execute(query)]


def resolutions(list_key: str, on: date, versions: Sequence[EntryView],
                links: Sequence[LinkView]) -> dict[str, Resolution]:
    """What ``resolve`` answers on ``on`` for each code of ``versions``, without a statement.

    ``versions`` are every version of the list valid on ``on`` (any status) and ``links``
    every link in effect by ``on``, both as one release said them: what an export has
    already read. The answers are those of
    :func:`registry.services.graph_reads.resolve` for the same release, because both run
    :func:`registry.services.queries.resolution_of`.
    """
    by_code = {v.code: v for v in versions}
    outgoing: dict[str, list[LinkView]] = defaultdict(list)
    for link in links:
        outgoing[link.from_code].append(link)

    def links_of(codes: Sequence[str]) -> dict[str, list[LinkView]]:
        return {c: outgoing.get(c, []) for c in codes}

    def versions_of(codes: Sequence[str]) -> dict[str, EntryView]:
        return {c: by_code[c] for c in codes if c in by_code}

    return {v.code: resolution_of(list_key, v.code, on, v, None, links_of, versions_of)
            for v in versions}
