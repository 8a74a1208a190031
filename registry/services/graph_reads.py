"""Batched reads for the GraphQL API: many entries, many children pages, many histories.

``registry.services.queries`` answers one question at a time. A GraphQL request asks the
same question for many objects at once (the parent of each of 40 communes), so these
functions take many keys and answer in one statement, and they take an already checked
record time: ``release`` is ``None`` for the latest records or an exact release number.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    any_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from registry.config import today
from registry.errors import NotFound, ValidationError
from registry.models import ChangeSet, CodeList, EntryVersion, FeedHead, LineageLink
from registry.services import raw_reads
from registry.services.queries import (
    EntryView,
    HistoryItem,
    LinkView,
    Page,
    Resolution,
    decode_cursor,
    encode_cursor,
    resolution_of,
)
from registry.text import fold

V = EntryVersion
MAX_FIRST = 100
Reader = Session | Connection
"""What reads run on: a session, or (on PostgreSQL) the process's autocommit connection."""
_HEAD = select(FeedHead.release_id).where(FeedHead.id == 1)

# The columns of an EntryView after its list key, in its field order. Reads filter on
# ``list_id`` rather than joining code_lists: the planner then knows which list, and
# estimates (and plans) far better than through a join.
COLUMNS = (V.id, V.code, V.name, V.short_name, V.name_en, V.type, V.level, V.parent_code,
           V.status, V.valid_from, V.valid_to, V.attributes, V.recorded_release,
           V.superseded_release, V.change_set_id)
_WIDTH = len(COLUMNS)

# A list's id never changes once created (lists are never deleted), so it is cached for
# the life of the engine (per database).
_list_ids: weakref.WeakKeyDictionary[Engine, dict[str, int]] = weakref.WeakKeyDictionary()


def _engine_of(reader: Reader) -> Engine:
    if isinstance(reader, Connection):
        return reader.engine
    bind = reader.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def list_id(session: Reader, list_key: str) -> int | None:
    """The id of a code list, or ``None`` if there is no such list."""
    known = _list_ids.setdefault(_engine_of(session), {})
    found = known.get(list_key)
    if found is None:
        known.update((key, id_) for key, id_ in session.execute(select(CodeList.key, CodeList.id)))
        found = known.get(list_key)
    return found


def _member(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """``column IN (:name…)``; on PostgreSQL ``column = ANY(:name)``, one SQL text whatever
    the number of values: nothing to re-render per call, and the server prepares it once."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def _view(list_key: str, row: Any) -> EntryView:
    return EntryView(row[0], list_key, *row[1:_WIDTH])


def _visible(release: int | None, table: Any = V) -> ColumnElement[bool]:
    """Records of ``table`` (entry versions, or an alias of them) as said at ``release``."""
    if release is None:
        return table.superseded_release.is_(None)  # type: ignore[no-any-return]
    r: BindParameter[int] = bindparam("release", release)
    return and_(table.recorded_release <= r, or_(table.superseded_release.is_(None),
                                                 table.superseded_release > r))


def _valid(as_of: date | None = None, table: Any = V) -> ColumnElement[bool]:
    """Versions of ``table`` valid on ``as_of``."""
    day: BindParameter[date] = bindparam("as_of", as_of)
    return and_(table.valid_from <= day, or_(table.valid_to.is_(None), table.valid_to > day))


def _by_codes(release: int | None, dialect: str) -> Select[Any]:
    return select(*COLUMNS).where(V.list_id == bindparam("list_id"),
                                  _member(V.code, "codes", dialect), _visible(release), _valid())


def _parents_of(release: int | None, dialect: str) -> Select[Any]:
    """The versions of the parents of some codes, on the same date."""
    P = aliased(EntryVersion)
    return (select(*(getattr(P, c.key) for c in COLUMNS))
            .join(V, and_(P.list_id == V.list_id, P.code == V.parent_code))
            .where(V.list_id == bindparam("list_id"), _member(V.code, "codes", dialect),
                   _visible(release), _valid(), _visible(release, P), _valid(table=P)))


def _with_parents(release: int | None, dialect: str) -> Select[Any]:
    """The versions of some codes, and after them their parents' versions on the same date."""
    return _by_codes(release, dialect).union_all(  # type: ignore[return-value]
        _parents_of(release, dialect))


def _records(release: int | None) -> Select[Any]:
    """Every record of one code, each with whether the code has a link in force by ``as_of``.

    The flag lets resolve answer an active code that never gave area away, the common
    case, from this one statement.
    """
    L = LineageLink
    gave = exists().where(L.list_id == bindparam("list_id"), L.from_code == bindparam("code"),
                          L.effective_date <= bindparam("as_of"))
    if release is not None:
        gave = gave.where(L.release_id <= bindparam("release"))
    return (select(*COLUMNS, gave.label("gave")).where(
        V.list_id == bindparam("list_id"), V.code == bindparam("code"), _visible(release))
            .order_by(V.valid_from))


# Built once: constructing a statement costs more than executing a cached one.
_BY_CODES = {(latest, parents, dialect): (_with_parents if parents else _by_codes)(
    None if latest else 0, dialect)
    for latest in (True, False) for parents in (True, False)
    for dialect in ("postgresql", "sqlite", "mysql", "mariadb")}
_RECORDS_LATEST = _records(None)
_RECORDS_AT = _records(0)


def latest_release(session: Reader) -> int:
    """The latest release number (0 before anything is published)."""
    found = raw_reads.rows(session, _HEAD, {})
    return int((found[0][0] if found else 0) or 0)


def check_release(session: Reader, at_release: int | None) -> tuple[int, int | None]:
    """Check an ``atRelease`` argument; return (latest, the release to read or ``None``).

    ``None`` means "the latest records" (``superseded_release IS NULL``): the cheapest
    predicate, and exact because the latest release is what those records say.
    """
    latest = latest_release(session)
    if at_release is None or at_release == latest:
        return latest, None
    if at_release < 1 or at_release > latest:
        raise ValidationError("atRelease", "range",
                              f"release {at_release} does not exist (latest is {latest})")
    return latest, at_release


def entries_by_codes(session: Reader, list_key: str, codes: Iterable[str], as_of: date,
                     release: int | None, parents: bool = False) -> dict[str, EntryView]:
    """Versions of many codes of one list valid on ``as_of``: code → version; with
    ``parents``, their parents' versions too (in the same statement)."""
    wanted = sorted(set(codes))
    lid = list_id(session, list_key)
    if not wanted or lid is None:
        return {}
    statement = _BY_CODES[(release is None, parents, _engine_of(session).dialect.name)]
    rows = raw_reads.rows(session, statement, {"list_id": lid, "codes": wanted,
                                               "as_of": as_of, "release": release or 0})
    return {row[1]: _view(list_key, row) for row in rows}


@dataclass(frozen=True)
class Filters:
    """Filters of a list query; attribute filters serve the typed roots."""

    parent: str | None = None
    level: str | None = None
    type: str | None = None
    status: str | None = "active"
    search: str | None = None
    attribute_equals: tuple[tuple[str, str], ...] = ()
    attribute_contains: tuple[tuple[str, str], ...] = ()


def _json_array_contains(dialect: str, name: str, param: str) -> ColumnElement[bool]:
    """The bound value ``param`` is an element of the JSON array attribute ``name``."""
    if dialect == "postgresql":
        from sqlalchemy import cast
        from sqlalchemy.dialects.postgresql import JSONB

        # The parameter is bound as a one-element JSON array: jsonb @> '["value"]'.
        return cast(V.attributes, JSONB)[name].contains(bindparam(param, type_=JSONB))
    # SQLite (and MariaDB replicas) expose arrays through json_each.
    each = func.json_each(V.attributes, f"$.{name}").table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == bindparam(param)))


def _require_list(session: Reader, list_key: str) -> int:
    lid = list_id(session, list_key)
    if lid is None:
        known = ", ".join(session.execute(select(CodeList.key).order_by(CodeList.key)).scalars())
        raise NotFound(f"no code list '{list_key}' (known: {known or 'none'})")
    return lid


# (latest?, parent?, level?, type?, status?, search?, after: "" | "code" | "name",
#  attribute names compared, attribute arrays searched, dialect)
_Shape = tuple[bool, bool, bool, bool, bool, bool, str, tuple[str, ...], tuple[str, ...], str]
_page_statements: dict[_Shape, Select[Any]] = {}


def _page_statement(shape: _Shape) -> Select[Any]:
    """The statement of one shape of list query, all values bound, built once."""
    latest, parent, level, type, status, search, after, equals, contains, dialect = shape
    query = select(*COLUMNS).where(V.list_id == bindparam("list_id"),
                                   _visible(None if latest else 0), _valid())
    for present, column in ((parent, V.parent_code), (level, V.level), (type, V.type),
                            (status, V.status)):
        if present:
            query = query.where(column == bindparam(column.key))
    for i, name in enumerate(equals):
        query = query.where(V.attributes[name].as_string() == bindparam(f"eq{i}"))
    for i, name in enumerate(contains):
        query = query.where(_json_array_contains(dialect, name, f"in{i}"))
    order: tuple[Any, ...] = (V.code,)
    if search:
        query = query.where(V.search_key.like(bindparam("pattern"), escape="\\"))
        order = (V.search_key, V.code)
    if after == "name":
        query = query.where(or_(V.search_key > bindparam("after_name"),
                                and_(V.search_key == bindparam("after_name"),
                                     V.code > bindparam("after_code"))))
    elif after == "code":
        query = query.where(V.code > bindparam("after_code"))
    return query.order_by(*order).limit(bindparam("limit"))


def check_first(first: int) -> None:
    """``first`` is required and bounded: it is what bounds the work of a request."""
    if not 1 <= first <= MAX_FIRST:
        raise ValidationError("first", "range", f"must be between 1 and {MAX_FIRST}")


def page_entries(session: Reader, list_key: str, filters: Filters, as_of: date,
                 release: int | None, first: int, after: str | None = None) -> Page:
    """One keyset page of entries, ordered by code, or by folded name then code in a search.

    The cursors are those of :func:`registry.services.queries.list_entries`, so a cursor
    from either continues in both.
    """
    check_first(first)
    folded = fold(filters.search) if filters.search else ""
    params: dict[str, Any] = {
        "list_id": _require_list(session, list_key), "as_of": as_of, "release": release or 0,
        "parent_code": filters.parent, "level": filters.level, "type": filters.type,
        "status": filters.status, "limit": first + 1}
    after_kind = ""
    if after:
        values = decode_cursor(after)
        if len(values) != (2 if folded else 1):
            raise ValidationError("after", "cursor", "belongs to another ordering")
        after_kind = "name" if folded else "code"
        params["after_code"] = values[-1]
        params["after_name"] = values[0]
    if folded:
        escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{escaped}%"
    for i, (_, value) in enumerate(filters.attribute_equals):
        params[f"eq{i}"] = value
    dialect = _engine_of(session).dialect.name
    for i, (_, value) in enumerate(filters.attribute_contains):
        params[f"in{i}"] = [value] if dialect == "postgresql" else value
    shape: _Shape = (release is None, filters.parent is not None, filters.level is not None,
                     filters.type is not None, filters.status is not None, bool(folded),
                     after_kind, tuple(n for n, _ in filters.attribute_equals),
                     tuple(n for n, _ in filters.attribute_contains), dialect)
    statement = _page_statements.get(shape)
    if statement is None:
        statement = _page_statements[shape] = _page_statement(shape)
    rows = [_view(list_key, r) for r in raw_reads.rows(session, statement, params)]
    return _page(rows, first, bool(folded))


def _page(rows: list[EntryView], first: int, by_name: bool) -> Page:
    items = rows[:first]
    cursor = None
    if items:
        last = items[-1]
        cursor = encode_cursor([fold(last.name), last.code] if by_name else [last.code])
    return Page(items=items, end_cursor=cursor, has_next=len(rows) > first)


def _children_statement(release: int | None, level: bool, type: bool,
                        status: bool, dialect: str, ordered: bool = True) -> Select[Any]:
    inner = select(*COLUMNS).where(V.list_id == bindparam("list_id"),
                                   _member(V.parent_code, "parents", dialect),
                                   _visible(None if release is None else 0), _valid())
    if level:
        inner = inner.where(V.level == bindparam("level"))
    if type:
        inner = inner.where(V.type == bindparam("type"))
    if status:
        inner = inner.where(V.status == bindparam("status"))
    rank = func.row_number().over(partition_by=V.parent_code, order_by=V.code).label("rank")
    ranked = inner.add_columns(rank).subquery()
    if not ordered:  # the rank instead: the caller orders
        return (select(*[ranked.c[i] for i in range(_WIDTH)], ranked.c.rank)
                .where(ranked.c.rank <= bindparam("limit")))
    return (select(*[ranked.c[i] for i in range(_WIDTH)])
            .where(ranked.c.rank <= bindparam("limit")).order_by(ranked.c[7], ranked.c[1]))


# Window statements by shape, built on first use: building one costs milliseconds.
_children_statements: dict[tuple[bool, bool, bool, bool, str], Select[Any]] = {}


def children_pages(session: Reader, list_key: str, parents: Sequence[str], filters: Filters,
                   as_of: date, release: int | None, first: int) -> dict[str, Page]:
    """The first page of children of many parents in one statement (a window per parent)."""
    _check_children(first, filters)
    wanted = sorted(set(parents))
    if not wanted:
        return {}
    shape = (release is None, filters.level is not None, filters.type is not None,
             filters.status is not None, _engine_of(session).dialect.name)
    statement = _children_statements.get(shape)
    if statement is None:
        statement = _children_statements[shape] = _children_statement(
            None if shape[0] else 0, *shape[1:])
    params: dict[str, Any] = {"list_id": _require_list(session, list_key), "parents": wanted,
                              "as_of": as_of, "release": release or 0, "limit": first + 1,
                              "level": filters.level, "type": filters.type,
                              "status": filters.status}
    return _pages([_view(list_key, row) for row in raw_reads.rows(session, statement, params)],
                  wanted, first)


def _pages(children: list[EntryView], parents: list[str], first: int) -> dict[str, Page]:
    """Children (ordered by parent, then code) as each parent's first page."""
    grouped: dict[str, list[EntryView]] = defaultdict(list)
    for view in children:
        grouped[view.parent or ""].append(view)
    return {parent: _page(grouped.get(parent, []), first, False) for parent in parents}


def _check_children(first: int, filters: Filters) -> None:
    check_first(first)
    if filters.attribute_equals or filters.attribute_contains or filters.search:
        raise ValidationError("children", "filter", "children filter by type, level and "
                                                    "status only")


# (latest?, parents?, level?, type?, status?, dialect)
_family_statements: dict[tuple[bool, bool, bool, bool, bool, str], Any] = {}


def _family(shape: tuple[bool, bool, bool, bool, bool, str]) -> Any:
    latest, parents, level, type, status, dialect = shape
    release = None if latest else 0
    # The last column is 0 for a version, a child's rank among its parent's children.
    parts = [_by_codes(release, dialect).add_columns(literal_column("0"))]
    if parents:
        parts.append(_parents_of(release, dialect).add_columns(literal_column("0")))
    parts.append(_children_statement(release, level, type, status, dialect, ordered=False))
    return union_all(*parts)


def family(session: Reader, list_key: str, codes: Sequence[str], as_of: date,
           release: int | None, parents: bool, first: int,
           filters: Filters) -> tuple[dict[str, EntryView], dict[str, Page]]:
    """In one statement: the versions of some codes (code → version; with ``parents``,
    their parents' versions too) and the first page of each one's children, as
    :func:`entries_by_codes` and :func:`children_pages` would answer them."""
    _check_children(first, filters)
    wanted = sorted(set(codes))
    lid = list_id(session, list_key)
    if not wanted or lid is None:
        return {}, {}
    shape = (release is None, parents, filters.level is not None, filters.type is not None,
             filters.status is not None, _engine_of(session).dialect.name)
    statement = _family_statements.get(shape)
    if statement is None:
        statement = _family_statements[shape] = _family(shape)
    found = raw_reads.rows(session, statement, {
        "list_id": lid, "codes": wanted, "parents": wanted, "as_of": as_of,
        "release": release or 0, "limit": first + 1, "level": filters.level,
        "type": filters.type, "status": filters.status})
    versions = {row[1]: _view(list_key, row) for row in found if row[_WIDTH] == 0}
    children = [_view(list_key, row) for row in sorted(
        (row for row in found if row[_WIDTH] > 0), key=lambda row: row[_WIDTH])]
    return versions, _pages(children, wanted, first)


def _links(direction: str, release: bool, dialect: str) -> Select[Any]:
    L = LineageLink
    side = L.from_code if direction == "successors" else L.to_code
    query = (select(L.from_code, L.to_code, L.kind, L.is_default, L.share, L.effective_date,
                    L.change_set_id, L.release_id)
             .where(L.list_id == bindparam("list_id"), _member(side, "codes", dialect))
             .order_by(L.effective_date, L.from_code, L.to_code))
    return query.where(L.release_id <= bindparam("release")) if release else query


# Built once, as the entry statements are: resolve runs one per step of its walk.
_LINKS = {(direction, release, dialect): _links(direction, release, dialect)
          for direction in ("successors", "predecessors") for release in (False, True)
          for dialect in ("postgresql", "sqlite", "mysql", "mariadb")}


def links_by_code(session: Reader, list_key: str, codes: Sequence[str], direction: str,
                  release: int | None) -> dict[str, list[LinkView]]:
    """Direct lineage links of many codes: code → links, from one statement."""
    wanted = sorted(set(codes))
    out: dict[str, list[LinkView]] = {code: [] for code in wanted}
    lid = list_id(session, list_key)
    if not wanted or lid is None:
        return out
    statement = _LINKS[(direction, release is not None, _engine_of(session).dialect.name)]
    for row in raw_reads.rows(session, statement, {"list_id": lid, "codes": wanted,
                                                   "release": release or 0}):
        link = LinkView(from_code=row[0], to_code=row[1], kind=row[2], is_default=row[3],
                        share=row[4], effective_date=row[5], change_set_id=row[6],
                        release=row[7], depth=1)
        out[link.from_code if direction == "successors" else link.to_code].append(link)
    return out


def histories(session: Reader, list_key: str, codes: Sequence[str],
              release: int | None) -> dict[str, list[HistoryItem]]:
    """Every record of many entries (as said up to ``release``), oldest first."""
    wanted = sorted(set(codes))
    out: dict[str, list[HistoryItem]] = {code: [] for code in wanted}
    lid = list_id(session, list_key)
    if not wanted or lid is None:
        return out
    query = (select(*COLUMNS, ChangeSet.legal_number, ChangeSet.title)
             .outerjoin(ChangeSet, ChangeSet.id == V.change_set_id)
             .where(V.list_id == lid, V.code.in_(wanted))
             .order_by(V.code, V.recorded_release, V.valid_from))
    if release is not None:
        query = query.where(V.recorded_release <= release)
    for row in session.execute(query):
        view = _view(list_key, row)
        out[view.code].append(HistoryItem(view, view.recorded_release, view.change_set_id,
                                          row[_WIDTH], row[_WIDTH + 1]))
    return out


def resolve(session: Reader, list_key: str, code: str, on: date | None = None,
            release: int | None = None) -> Resolution:
    """What ``code`` denotes on ``on`` (default today), as said at ``release`` (default the
    latest): its status and successors.

    An ended code's successors carry it on; an active code that gave parts of its area to
    other entries has them too, its own entry first (DESIGN §11: ambiguity is data). One
    implementation serves the CLI, the web UI and GraphQL (``resolve(atRelease:)``
    reproduces past answers); exports run the same walk
    (:func:`registry.services.queries.resolution_of`) over a whole list. An active code
    that never gave area away costs one statement.
    """
    on = on or today()
    lid = list_id(session, list_key)
    rows = [] if lid is None else raw_reads.rows(
        session, _RECORDS_LATEST if release is None else _RECORDS_AT,
        {"list_id": lid, "code": code, "as_of": on, "release": release or 0})
    if not rows:
        raise NotFound(f"no entry '{code}' in '{list_key}'")
    records = [_view(list_key, r) for r in rows]
    version = next((r for r in records if r.valid_from <= on
                    and (r.valid_to is None or r.valid_to > on)), None)
    if version is None and records[0].valid_from > on:
        return Resolution(list_key, code, on, "not_yet", None, None, [])
    if version is not None and version.status == "active" and not rows[0][_WIDTH]:
        # No link from the code: the walk would find nothing, so skip its statement.
        return Resolution(list_key, code, on, "active", version, None, [])
    return resolution_of(
        list_key, code, on, version, _ended_before(records, on),
        lambda codes: links_by_code(session, list_key, codes, "successors", release),
        lambda codes: entries_by_codes(session, list_key, codes, on, release))


def _ended_before(records: list[EntryView], on: date) -> date | None:
    """When a code with no version on ``on`` stopped: the end of its last earlier version."""
    ends = [r.valid_to for r in records if r.valid_to is not None and r.valid_to <= on]
    return max(ends) if ends else None


def day_before(day: date) -> date:
    """The last day a predecessor was valid, given its successor's effective date."""
    return day - timedelta(days=1)
