"""Reads, "as of" a date (valid time) and "at" a release (record time) — DESIGN §5."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from registry.config import today
from registry.errors import NotFound, ValidationError
from registry.models import ChangeSet, CodeList, Entry, EntryVersion, FeedHead, LineageLink
from registry.services.lineage_walk import walk
from registry.text import fold

MAX_PAGE = 1000
V = EntryVersion


@dataclass(frozen=True, slots=True)
class EntryView:
    """One entry version as a read returns it."""

    id: int
    list_key: str
    code: str
    name: str
    short_name: str | None
    name_en: str | None
    type: str
    level: str
    parent: str | None
    status: str
    valid_from: date
    valid_to: date | None
    attributes: dict[str, Any]
    recorded_release: int
    superseded_release: int | None
    change_set_id: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (CLI ``--json`` and exports)."""
        return {
            "list": self.list_key, "code": self.code, "name": self.name,
            "short_name": self.short_name, "name_en": self.name_en, "type": self.type,
            "level": self.level, "parent": self.parent, "status": self.status,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "attributes": self.attributes, "recorded_release": self.recorded_release,
            "superseded_release": self.superseded_release, "change_set": self.change_set_id,
        }


_COLUMNS = (V.id, CodeList.key, V.code, V.name, V.short_name, V.name_en, V.type, V.level,
            V.parent_code, V.status, V.valid_from, V.valid_to, V.attributes,
            V.recorded_release, V.superseded_release, V.change_set_id)


def _view(row: Row[Any], release: int | None = None) -> EntryView:
    view = EntryView(*row)
    if release is not None and view.superseded_release is not None:
        # Seen from release R, a later supersession has not happened yet: reproducible reads.
        view = replace(view, superseded_release=None)
    return view


def _base() -> Select[Any]:
    return select(*_COLUMNS).join(CodeList, CodeList.id == V.list_id)


def latest_release(session: Session) -> int:
    """The newest release number (0 before anything is published)."""
    return int(session.scalar(select(FeedHead.release_id).where(FeedHead.id == 1)) or 0)


def visible_at(release: int | None) -> ColumnElement[bool]:
    """Records the registry said at ``release`` (``None``: the latest)."""
    if release is None:
        return V.superseded_release.is_(None)
    return and_(V.recorded_release <= release,
                or_(V.superseded_release.is_(None), V.superseded_release > release))


def valid_on(day: date) -> ColumnElement[bool]:
    """Versions valid in the world on ``day``."""
    return and_(V.valid_from <= day, or_(V.valid_to.is_(None), V.valid_to > day))


def _release_arg(session: Session, at_release: int | None) -> int | None:
    if at_release is None:
        return None
    latest = latest_release(session)
    if at_release < 1 or at_release > latest:
        raise ValidationError("atRelease", "range",
                              f"release {at_release} does not exist (latest is {latest})")
    return None if at_release == latest else at_release


# The hot path (latest release) as one statement built once: building a SELECT per call
# costs more than the indexed lookup itself.
_GET_LATEST = _base().where(
    CodeList.key == bindparam("list_key"), V.code == bindparam("code"),
    V.superseded_release.is_(None), V.valid_from <= bindparam("day"),
    or_(V.valid_to.is_(None), V.valid_to > bindparam("day")),
)


def get_entry(session: Session, list_key: str, code: str, as_of: date | None = None,
              at_release: int | None = None) -> EntryView | None:
    """The version of (list, code) valid on ``as_of`` as said at ``at_release``."""
    if at_release is None:
        found = session.execute(_GET_LATEST, {"list_key": list_key, "code": code,
                                              "day": as_of or today()}).first()
        return _view(found) if found else None
    release = _release_arg(session, at_release)
    row = session.execute(
        _base().where(CodeList.key == list_key, V.code == code, visible_at(release),
                      valid_on(as_of or today()))
    ).first()
    return _view(row, release) if row else None


def get_entries(session: Session, list_key: str, codes: Sequence[str], as_of: date | None = None,
                at_release: int | None = None) -> dict[str, EntryView]:
    """Many entries at once (for DataLoaders): code → version."""
    if not codes:
        return {}
    release = _release_arg(session, at_release)
    rows = session.execute(
        _base().where(CodeList.key == list_key, V.code.in_(list(codes)), visible_at(release),
                      valid_on(as_of or today()))
    )
    return {view.code: view for view in (_view(r, release) for r in rows)}


def require_entry(session: Session, list_key: str, code: str, as_of: date | None = None,
                  at_release: int | None = None) -> EntryView:
    """Like :func:`get_entry`, but :class:`NotFound` says why there is no answer."""
    found = get_entry(session, list_key, code, as_of, at_release)
    if found is None:
        if session.scalar(select(CodeList.id).where(CodeList.key == list_key)) is None:
            raise NotFound(f"no code list '{list_key}'")
        day = (as_of or today()).isoformat()
        raise NotFound(f"'{code}' has no version in '{list_key}' on {day}")
    return found


@dataclass(frozen=True)
class Page:
    """One page of a keyset-paginated list."""

    items: list[EntryView]
    end_cursor: str | None
    has_next: bool


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for keyset pagination."""
    return base64.urlsafe_b64encode(json.dumps(values, ensure_ascii=False).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    """Read a cursor made by :func:`encode_cursor`; a forged one is a validation error."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("after", "cursor", "is not a cursor this server issued") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValidationError("after", "cursor", "is not a cursor this server issued")
    return values


def list_entries(session: Session, list_key: str, *, parent: str | None = None,
                 level: str | None = None, type: str | None = None,
                 status: str | None = "active", search: str | None = None,
                 as_of: date | None = None, at_release: int | None = None,
                 first: int = 50, after: str | None = None) -> Page:
    """Entries of a list on a date, filtered, in stable keyset pages.

    Ordered by code; with ``search``, by folded name then code, so that equal names
    never make a page skip or repeat a row.
    """
    if not 1 <= first <= MAX_PAGE:
        raise ValidationError("first", "range", f"must be between 1 and {MAX_PAGE}")
    release = _release_arg(session, at_release)
    query = _base().where(CodeList.key == list_key, visible_at(release),
                          valid_on(as_of or today()))
    if parent is not None:
        query = query.where(V.parent_code == parent)
    if level is not None:
        query = query.where(V.level == level)
    if type is not None:
        query = query.where(V.type == type)
    if status is not None:
        query = query.where(V.status == status)
    folded = fold(search) if search else ""
    if folded:
        escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(V.search_key.like(f"%{escaped}%", escape="\\"))
        order: tuple[Any, ...] = (V.search_key, V.code)
    else:
        order = (V.code,)
    if after:
        values = decode_cursor(after)
        if len(values) != len(order):
            raise ValidationError("after", "cursor", "belongs to another ordering")
        if len(order) == 2:
            query = query.where(or_(V.search_key > values[0],
                                    and_(V.search_key == values[0], V.code > values[1])))
        else:
            query = query.where(V.code > values[0])
    rows = [_view(r, release) for r in session.execute(query.order_by(*order).limit(first + 1))]
    has_next = len(rows) > first
    items = rows[:first]
    cursor = None
    if items:
        last = items[-1]
        cursor = encode_cursor([fold(last.name), last.code] if folded else [last.code])
    return Page(items=items, end_cursor=cursor, has_next=has_next)


def count_entries(session: Session, as_of: date | None = None) -> dict[str, int]:
    """Active entries per list on a date."""
    rows = session.execute(
        select(CodeList.key, func.count(V.id)).join(V, V.list_id == CodeList.id)
        .where(visible_at(None), valid_on(as_of or today()), V.status == "active")
        .group_by(CodeList.key)
    )
    return {key: int(n) for key, n in rows}


def ancestors(session: Session, list_key: str, code: str, as_of: date | None = None,
              at_release: int | None = None) -> list[EntryView]:
    """Parent, grandparent, … up to the top, on the date."""
    out: list[EntryView] = []
    current = require_entry(session, list_key, code, as_of, at_release)
    seen = {code}
    while current.parent and current.parent not in seen:
        seen.add(current.parent)
        parent = get_entry(session, list_key, current.parent, as_of, at_release)
        if parent is None:
            break
        out.append(parent)
        current = parent
    return out


@dataclass(frozen=True)
class HistoryItem:
    """One recorded version with the release and change set that recorded it."""

    version: EntryView
    release: int
    change_set_id: int | None
    legal_number: str | None
    title: str | None


def history(session: Session, list_key: str, code: str) -> list[HistoryItem]:
    """Every record of an entry, including superseded ones: the auditor's view."""
    rows = session.execute(
        select(*_COLUMNS, ChangeSet.legal_number, ChangeSet.title)
        .join(CodeList, CodeList.id == V.list_id)
        .outerjoin(ChangeSet, ChangeSet.id == V.change_set_id)
        .where(CodeList.key == list_key, V.code == code)
        .order_by(V.recorded_release, V.valid_from)
    ).all()
    if not rows:
        raise NotFound(f"no entry '{code}' in '{list_key}'")
    out = []
    for row in rows:
        view = EntryView(*row[:16])
        out.append(HistoryItem(view, view.recorded_release, view.change_set_id, row[16], row[17]))
    return out


@dataclass(frozen=True)
class LinkView:
    """A lineage link seen from one side; ``depth`` counts hops from the asked entry."""

    from_code: str
    to_code: str
    kind: str
    is_default: bool
    share: float | None
    effective_date: date
    change_set_id: int | None
    release: int
    depth: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"from": self.from_code, "to": self.to_code, "kind": self.kind,
                "default": self.is_default, "share": self.share,
                "effective_date": self.effective_date.isoformat(),
                "change_set": self.change_set_id, "release": self.release, "depth": self.depth}


def links_of(session: Session, list_key: str, codes: Sequence[str], direction: str,
             at_release: int | None = None, until: date | None = None) -> list[LinkView]:
    """Direct links from (``successors``) or to (``predecessors``) any of ``codes``."""
    if not codes:
        return []
    L = LineageLink
    side = L.from_code if direction == "successors" else L.to_code
    query = (select(L.from_code, L.to_code, L.kind, L.is_default, L.share, L.effective_date,
                    L.change_set_id, L.release_id)
             .join(CodeList, CodeList.id == L.list_id)
             .where(CodeList.key == list_key, side.in_(list(codes)))
             .order_by(L.effective_date, L.from_code, L.to_code))
    if at_release is not None:
        query = query.where(L.release_id <= at_release)
    if until is not None:
        query = query.where(L.effective_date <= until)
    return [LinkView(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], depth=1)
            for row in session.execute(query)]


def lineage(session: Session, list_key: str, code: str, direction: str = "successors",
            transitive: bool = True, at_release: int | None = None) -> list[LinkView]:
    """Successors or predecessors of an entry, each link once; transitively, forward
    (backward) in time from each link, so that a reused code does not chain generations."""
    if direction not in ("successors", "predecessors"):
        raise ValidationError("direction", "enum", "must be 'successors' or 'predecessors'")
    if session.scalar(select(Entry.id).join(CodeList, CodeList.id == Entry.list_id)
                      .where(CodeList.key == list_key, Entry.code == code)) is None:
        raise NotFound(f"no entry '{code}' in '{list_key}'")
    def direct(codes: Sequence[str]) -> list[LinkView]:
        return links_of(session, list_key, codes, direction, at_release)

    if not transitive:
        return [replace(link, depth=1) for link in direct([code])]
    return walk(code, direction, direct)


@dataclass(frozen=True)
class Successor:
    """An entry that now holds (part of) the area a code denoted, on a date.

    ``kinds`` are the kinds of the links followed to reach it, in order; they are empty for
    the code's own entry when the code continues. ``share`` multiplies the links' shares.
    """

    entry: EntryView
    is_default: bool
    kinds: tuple[str, ...]
    share: float | None


@dataclass(frozen=True)
class Resolution:
    """What a code denotes on a date (DESIGN §2: convert old codes to current ones).

    ``successors`` is empty for a code that is active and whole. For an ended code it lists
    the entries that carry it on; for an active code that gave parts of its area to other
    entries (``divided_on``: the latest such date), it lists its own entry, as the default
    unless its link to a part is marked default (the whole population went there), and the
    entries that received those parts; the default comes first.
    """

    list_key: str
    code: str
    on: date
    status: str  # active | ended | not_yet
    entry: EntryView | None
    ended_on: date | None
    successors: list[Successor]
    divided_on: date | None = None

    @property
    def ambiguous(self) -> bool:
        """An address under this code may now lie in more than one entry (DESIGN §11).

        The default successor is the usual choice, not a certainty: the address decides.
        """
        return len(self.successors) > 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "list": self.list_key, "code": self.code, "as_of": self.on.isoformat(),
            "status": self.status, "entry": self.entry.as_dict() if self.entry else None,
            "ended_on": self.ended_on.isoformat() if self.ended_on else None,
            "divided_on": self.divided_on.isoformat() if self.divided_on else None,
            "ambiguous": self.ambiguous,
            "successors": [{"default": s.is_default, "kinds": list(s.kinds), "share": s.share,
                            "entry": s.entry.as_dict()} for s in self.successors],
        }


LinksOf = Callable[[Sequence[str]], Mapping[str, Sequence[LinkView]]]
"""Outgoing lineage links of some codes, recorded by the release being read: code → links."""
VersionsOf = Callable[[Sequence[str]], Mapping[str, EntryView]]
"""The versions of some codes valid on the date being resolved: code → version."""


@dataclass(frozen=True)
class _Path:
    """How the walk reached a code: what a successor found through it inherits."""

    is_default: bool
    kinds: tuple[str, ...]
    share: float | None
    continues: bool  # the code is active on the date: it keeps the rest of its area
    after: date | None  # only its links effective after this date moved area the path holds


def resolution_of(list_key: str, code: str, on: date, version: EntryView | None,
                  ended_on: date | None, links_of: LinksOf,
                  versions_of: VersionsOf) -> Resolution:
    """Resolve a code that has a record by ``on``: ``version`` is the one valid on ``on``.

    The one algorithm behind every resolve answer; callers differ only in how they read
    (one statement per step for a single code, the whole list at once for an export).
    ``ended_on`` is used when the code has no version on ``on``.
    """
    continues = version is not None and version.status == "active"
    successors, divided_on = _successors(code, on, continues, links_of, versions_of)
    if continues:
        assert version is not None
        if not successors:
            return Resolution(list_key, code, on, "active", version, None, [])
        itself = Successor(version, not any(s.is_default for s in successors), (), None)
        ordered = sorted([itself, *successors], key=lambda s: not s.is_default)
        return Resolution(list_key, code, on, "active", version, None, ordered, divided_on)
    ended = version.valid_from if version is not None else ended_on
    return Resolution(list_key, code, on, "ended", version, ended, successors)


def _successors(code: str, on: date, continues: bool, links_of: LinksOf,
                versions_of: VersionsOf) -> tuple[list[Successor], date | None]:
    """The entries other than ``code`` its area went to by ``on``, default first.

    Also the latest date a continuing ``code`` gave part of its area away. The walk is in
    breadth: a successor that itself ended hands over to its own successors, and one that
    continues but later gave parts of its area away hands over those parts too.
    """
    found: dict[str, Successor] = {}
    divided_on: date | None = None
    frontier = {code: _Path(True, (), None, continues, None)}
    seen = {code}
    while frontier:
        links = [lk for lks in links_of(sorted(frontier)).values() for lk in lks
                 if lk.to_code != lk.from_code and lk.effective_date <= on
                 and _after(frontier[lk.from_code].after, lk.effective_date)]
        targets = versions_of(sorted({lk.to_code for lk in links})) if links else {}
        following: dict[str, _Path] = {}
        for link in links:
            source = frontier[link.from_code]
            if link.from_code == code and continues:
                divided_on = max(divided_on or link.effective_date, link.effective_date)
            # A source that continues keeps the rest of its area, so it is its own default
            # successor and none of the parts it gave away is; except that the code asked
            # about may mark one part as its default, when the people went there ("một
            # phần diện tích, toàn bộ dân số" in the 2025 table).
            origin = link.from_code == code
            path = _Path(source.is_default and link.is_default
                         and (not source.continues or origin),
                         (*source.kinds, link.kind), _times(source.share, link.share),
                         False, None)
            target = targets.get(link.to_code)
            active = target is not None and target.status == "active"
            if target is not None and active and target.code != code:
                old = found.get(target.code)
                if old is None or (path.is_default and not old.is_default):
                    found[target.code] = Successor(target, path.is_default, path.kinds,
                                                   path.share)
            # A successor that continues is followed only for links after the one that
            # reached it (links of one change set all describe the same before and after);
            # reached on ``on`` itself, it has none to follow.
            if link.to_code not in seen and not (active and link.effective_date >= on):
                seen.add(link.to_code)
                following[link.to_code] = _Path(
                    path.is_default, path.kinds, path.share, active,
                    link.effective_date if active else None)
        frontier = following
    successors = sorted(found.values(), key=lambda s: (not s.is_default, s.entry.code))
    return successors, divided_on if successors else None


def _after(after: date | None, day: date) -> bool:
    return after is None or day > after


def _times(share: float | None, link_share: float | None) -> float | None:
    """The share of the original area a path carries: unknown shares do not shrink it."""
    if share is None:
        return link_share
    return share * link_share if link_share else share

