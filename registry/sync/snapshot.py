"""Snapshots: the state at a release, in pages, for bootstrapping a replica (§9.4).

The snapshot at release R holds the lists, the entry versions and the lineage links that
the registry said at R. Rows visible at R never change (a later release only supersedes
them from then on), so a snapshot page is a pure function of (R, subscription, position):
it is served ``immutable``, and a replica may fetch the pages over minutes without any
long-running transaction at the centre. After the snapshot the replica follows the changes
after R's last seq.

Sections come in this order: list definitions, then per list its entry versions in key
order (code, valid from), then per list its links by id. The opaque position token names
the section, the list and the last row sent; paging on the key walks the centre's
``(list, code, valid_from)`` index, so every page costs the same however deep it is.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String, Text, cast, func, literal, select, text, tuple_
from sqlalchemy.orm import Session

from registry.errors import NotFound, ValidationError
from registry.models import EntryVersion, FeedRecord, LineageLink, Release
from registry.services.checksums import ListAt, link_query, lists_at, visible_at
from registry.services.feed import GENESIS_HASH, RECORD_FORMAT
from registry.services.read_memo import memoised
from registry.sync.codec import PageWriter, copy_line
from registry.sync.protocol import COPY_VERSION_COLUMNS, SNAPSHOT_VERSION_KEYS, Subscription
from registry.sync.scope import ScopedView

ViewGetter = Callable[[Session, int, ListAt], ScopedView | None]
IN_CHUNK = 900  # stay under SQLite's bound-parameter limit
# A page built by the walk ahead comes in blocks of this many lines, so that a follower
# waits for one block of the walk (about 20 ms of PostgreSQL's time here), not a page.
PAUSED_BLOCK = 2000


@dataclass(frozen=True)
class ReleasePoint:
    """Where a release ends in the feed."""

    release: int
    seq: int
    hash: str


def release_point(session: Session, release: int) -> ReleasePoint:
    """The last seq and hash of ``release``; :class:`NotFound` if it was never published."""
    if release == 0:
        return ReleasePoint(0, 0, GENESIS_HASH)
    return memoised(session, ("release_point", release), lambda: _release_point(session,
                                                                                 release))


def _release_point(session: Session, release: int) -> ReleasePoint:
    found = session.execute(
        select(Release.last_seq, FeedRecord.hash)
        .outerjoin(FeedRecord, FeedRecord.seq == Release.last_seq)
        .where(Release.id == release)).first()
    if found is None or found[0] is None:
        raise NotFound(f"release {release} does not exist")
    return ReleasePoint(release, found[0], found[1] or GENESIS_HASH)


def subscribed_lists(session: Session, release: int, sub: Subscription) -> list[ListAt]:
    """The subscribed lists that exist at ``release``; unknown names are refused."""
    found = lists_at(session, release, sub.lists)
    if sub.lists is not None:
        missing = sorted(set(sub.lists) - {item.key for item in found})
        if missing:
            known = ", ".join(item.key for item in lists_at(session, release, None))
            raise NotFound(f"no code list {', '.join(repr(k) for k in missing)} at release "
                           f"{release}; the lists are: {known or 'none yet'}")
    return found


Position = tuple[str, str, Any]  # section, list key, last row (key or id)


def _token(position: Position) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _position_ok(after: Any) -> bool:
    """Whether a token's position is one this module writes: an id, or a (code, date) key.

    A forged token must not reach SQL with a number the database cannot hold or a text
    it cannot store.
    """
    if after is None:
        return True
    if isinstance(after, int) and not isinstance(after, bool):
        return 0 <= after <= 2**31 - 1
    if isinstance(after, list) and len(after) == 2 and all(isinstance(a, str) for a in after):
        code, valid_from = after
        try:
            date.fromisoformat(valid_from)
        except ValueError:
            return False
        return 0 < len(code) <= 128 and code.isprintable()
    return False


def _parse_token(token: str | None) -> Position | None:
    if not token:
        return None
    try:
        section, key, after = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token)
                                                                                 % 4)))
        if section not in ("v", "l") or not isinstance(key, str) or not _position_ok(after):
            raise ValueError(section)
        return section, key, after
    except (ValueError, TypeError, RecursionError):
        raise ValidationError("after", "token", f"'{token}' is not a snapshot position") from None


def _by_ids(session: Session, query: Any, id_column: Any, ids: list[int]) -> Iterator[Any]:
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
        yield from session.connection().execute(query.where(id_column.in_(chunk))
                                                .order_by(id_column))


def _json_array(session: Session, *values: Any) -> Any:
    """The database's own JSON array builder: it writes each line faster than Python."""
    name = "json_build_array" if session.get_bind().dialect.name == "postgresql" else "json_array"
    return cast(getattr(func, name)(*values), Text)


def _version_lines(session: Session, release: int, item: ListAt, view: ScopedView | None,
                   after: Any, limit: int, copy: bool = False) -> tuple[list[str], Any]:
    """Up to ``limit`` versions after ``after`` as JSON arrays in :data:`VERSION_KEYS`
    order, made by the database (``copy``: as COPY text lines, made here), and the
    position of the last one."""
    V = EntryVersion
    fields = (V.code, cast(V.valid_from, Text), cast(V.valid_to, Text), V.status, V.name,
              V.short_name, V.name_en, V.type, V.level, V.parent_code,
              cast(V.attributes, Text), V.recorded_release, V.change_set_id)
    line = _json_array(session, literal("version", String), literal(item.key, String),
                       *fields)
    query = select(line, V.code, V.valid_from, V.id, *fields).where(V.list_id == item.id,
                                                                    visible_at(release))
    if view is None:
        key = (after[0], date.fromisoformat(after[1])) if after else None
        if key is not None:
            query = query.where(tuple_(V.code, V.valid_from) > tuple_(literal(key[0]),
                                                                      literal(key[1])))
        rows = session.connection().execute(query.order_by(V.code, V.valid_from).limit(limit)).all()
        last = [rows[-1][1], rows[-1][2].isoformat()] if rows else after
    else:
        start = bisect.bisect_right(view.version_ids, after or 0)
        rows = list(_by_ids(session, query, V.id, view.version_ids[start:start + limit]))
        last = rows[-1][3] if rows else after
    if copy:
        return [copy_line((item.key, *row[4:])) for row in rows], last
    return [row[0] for row in rows], last


# PostgreSQL builds a whole page of version lines in one statement, in key order on the
# (list_id, code, valid_from) index; Python only copies the text into the answer.
def _copy_text(column: str) -> str:
    """SQL for a text column as a field of COPY's text format."""
    escaped = column
    for char, escape in (("\\", "\\\\"), ("E'\\t'", "\\t"), ("E'\\n'", "\\n"),
                         ("E'\\r'", "\\r")):
        found = char if char.startswith("E'") else f"'{char}'"
        escaped = f"replace({escaped}, {found}, '{escape}')"
    return f"coalesce({escaped}, '\\N')"


_PG_JSON_LINE = """json_build_array(CAST(:schema AS integer), 'version',
           CAST(:list_key AS text), code, valid_from::text, valid_to::text, status, name,
           short_name, name_en, type, level, parent_code, attributes::text, recorded_release,
           change_set_id)::text"""
# The same values, as COPY_VERSION_COLUMNS in COPY's text format.
_PG_COPY_LINE = " || E'\\t' || ".join([
    "CAST(:list_key AS text)", _copy_text("code"), "valid_from::text",
    "coalesce(valid_to::text, '\\N')",
    *(_copy_text(c) for c in ("status", "name", "short_name", "name_en", "type", "level",
                              "parent_code", "attributes::text")),
    "recorded_release::text", "coalesce(change_set_id::text, '\\N')"])


# PostgreSQL builds a whole page of version lines in one statement, in key order on the
# (list_id, code, valid_from) index; Python only copies the text into the answer.
def _pg_page(line: str) -> Any:
    return text(f"""
SELECT string_agg(line, E'\\n' ORDER BY code, valid_from), count(*),
       (array_agg(code ORDER BY code DESC, valid_from DESC))[1],
       (array_agg(valid_from ORDER BY code DESC, valid_from DESC))[1]
FROM (
  SELECT {line} AS line, code, valid_from
  FROM entry_versions
  WHERE list_id = :list_id AND recorded_release <= :release
    AND (superseded_release IS NULL OR superseded_release > :release)
    AND (code, valid_from) > (CAST(:code AS text), CAST(:valid_from AS date))
  ORDER BY code, valid_from
  LIMIT :limit
) AS page
""")


_PG_PAGES = {False: _pg_page(_PG_JSON_LINE), True: _pg_page(_PG_COPY_LINE)}


def _pg_version_block(session: Session, release: int, item: ListAt, after: Any, limit: int,
                      schema: int, copy: bool = False) -> tuple[str, int, Any]:
    """A page of version lines made by PostgreSQL (``copy``: in COPY's text format):
    (text, count, position of the last)."""
    connection = session.connection()
    # Walk the index in order whatever the statistics say: a sort of everything after the
    # position would make paging quadratic.
    connection.execute(text("SET LOCAL enable_sort = off"))
    code, valid_from = after if after else ("", "0001-01-01")
    block, count, last_code, last_from = connection.execute(_PG_PAGES[copy], {
        "schema": schema, "list_key": item.key, "list_id": item.id, "release": release,
        "code": code, "valid_from": valid_from, "limit": limit}).one()
    if not count:
        return "", 0, after
    return block, int(count), [last_code, last_from.isoformat()]


def _link_rows(session: Session, release: int, item: ListAt, view: ScopedView | None,
               after: Any, limit: int) -> tuple[list[Any], Any]:
    """Up to ``limit`` links after id ``after``, and the id of the last one."""
    query = link_query(release, item.id)
    if view is None:
        rows = list(session.connection().execute(query.where(LineageLink.id > (after or 0))
                                    .order_by(LineageLink.id).limit(limit)))
    else:
        start = bisect.bisect_right(view.link_ids, after or 0)
        rows = list(_by_ids(session, query, LineageLink.id,
                            view.link_ids[start:start + limit]))
    return rows, rows[-1][-1] if rows else after


def _link_values(key: str, row: Any) -> list[Any]:
    return ["link", key, row[0], row[1], row[2], bool(row[3]), row[4], row[5].isoformat(),
            row[6], row[7]]


VERSION_KEYS = SNAPSHOT_VERSION_KEYS
LINK_KEYS = ("t", "list", "from", "to", "kind", "default", "share", "effective_date",
             "release", "change_set")


def counts(session: Session, release: int, lists: list[ListAt],
           views: dict[str, ScopedView | None]) -> dict[str, dict[str, int]]:
    """How many versions and links each list has in the snapshot."""
    out: dict[str, dict[str, int]] = {}
    for item in lists:
        view = views.get(item.key)
        if view is not None:
            out[item.key] = {"versions": len(view.version_ids), "links": len(view.link_ids)}
            continue
        versions = session.scalar(select(func.count()).select_from(EntryVersion)
                                  .where(EntryVersion.list_id == item.id, visible_at(release)))
        links = session.scalar(select(func.count()).select_from(LineageLink)
                               .where(LineageLink.list_id == item.id,
                                      LineageLink.release_id <= release))
        out[item.key] = {"versions": int(versions or 0), "links": int(links or 0)}
    return out


def build_snapshot_page(session: Session, epoch: str, point: ReleasePoint, sub: Subscription,
                        token: str | None, limit: int, view_of: ViewGetter,
                        lists: list[ListAt] | None = None, lines: str = "json",
                        pause: Callable[[], None] | None = None) -> bytes:
    """One page of the snapshot at ``point.release`` for ``sub``, after position ``token``
    (``lists``: the subscribed lists at that release, if the caller has them; ``lines``:
    ``copy`` writes the versions as COPY text lines, see COPY_VERSION_COLUMNS; ``pause``:
    called before each block of the page, which then comes in blocks of at most
    PAUSED_BLOCK lines, the same bytes as in one)."""
    copy = lines == "copy"
    if pause is not None:
        pause()
    if lists is None:
        lists = subscribed_lists(session, point.release, sub)
    keys = [item.key for item in lists]
    views = {item.key: view_of(session, point.release, item) for item in lists}
    position = _parse_token(token)
    postgres = session.get_bind().dialect.name == "postgresql"
    writer = PageWriter()
    header: dict[str, Any] = {"t": "snapshot", "format": RECORD_FORMAT, "epoch": epoch,
                              "release": point.release, "seq": point.seq, "hash": point.hash,
                              "after": token or None, "subscription": sub.as_dict()}
    if copy:
        header["copy"] = list(COPY_VERSION_COLUMNS)
    if position is None:
        header["lists"] = counts(session, point.release, lists, views)
        for item in lists:
            writer.record({"t": "list", "key": item.key, "definition": item.definition,
                           "release": item.release})
        section, index, after = "v", 0, None
    else:
        section, key, after = position
        if key not in keys:
            raise ValidationError("after", "token", f"the position names the list '{key}', "
                                  "which is not in this snapshot")
        # Unscoped versions are paged by (code, date); scoped versions and links by id.
        if after is not None and isinstance(after, list) != (section == "v"
                                                             and views[key] is None):
            raise ValidationError("after", "token", f"'{token}' is not a position of this "
                                  "snapshot")
        index = keys.index(key)
    next_token: str | None = None
    while True:
        if index >= len(lists):
            if section == "v":
                section, index, after = "l", 0, None
                continue
            break
        item = lists[index]
        if len(writer) >= limit:
            next_token = _token((section, item.key, after))
            break
        wanted = limit - len(writer)
        if pause is not None:
            pause()
            wanted = min(wanted, PAUSED_BLOCK)
        if section == "v" and views[item.key] is None and postgres:
            block, got, after = _pg_version_block(
                session, point.release, item, after, wanted,
                -1 if copy else writer.schema(VERSION_KEYS), copy)
            writer.block(block, got)
        elif section == "v":
            texts, after = _version_lines(session, point.release, item, views[item.key],
                                          after, wanted, copy)
            if copy:
                writer.block("\n".join(texts), len(texts))
            else:
                writer.raw_rows(VERSION_KEYS, texts)
            got = len(texts)
        else:
            rows, after = _link_rows(session, point.release, item, views[item.key], after,
                                     wanted)
            writer.rows(LINK_KEYS, (_link_values(item.key, row) for row in rows))
            got = len(rows)
        if got < wanted:
            index, after = index + 1, None
    header["next"] = next_token
    return writer.encode(header)
