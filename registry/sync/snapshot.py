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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import NotFound, ValidationError
from registry.models import EntryVersion, FeedRecord, LineageLink, Release
from registry.services.checksums import (
    ListAt,
    link_query,
    lists_at,
    version_query,
    versions_after,
    visible_at,
)
from registry.services.feed import GENESIS_HASH, RECORD_FORMAT
from registry.sync.codec import PageWriter
from registry.sync.protocol import Subscription
from registry.sync.scope import ScopedView

ViewGetter = Callable[[Session, int, ListAt], ScopedView | None]
IN_CHUNK = 900  # stay under SQLite's bound-parameter limit


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
    last_seq = session.scalar(select(Release.last_seq).where(Release.id == release))
    if last_seq is None:
        raise NotFound(f"release {release} does not exist")
    digest = session.scalar(select(FeedRecord.hash).where(FeedRecord.seq == last_seq))
    return ReleasePoint(release, last_seq, digest or GENESIS_HASH)


def subscribed_lists(session: Session, release: int, sub: Subscription) -> list[ListAt]:
    """The subscribed lists that exist at ``release``; unknown names are refused."""
    found = lists_at(session, release, sub.lists)
    if sub.lists is not None:
        missing = sorted(set(sub.lists) - {item.key for item in found})
        if missing:
            raise NotFound(f"no code list {', '.join(repr(k) for k in missing)} at release "
                           f"{release}")
    return found


Position = tuple[str, str, Any]  # section, list key, last row (key or id)


def _token(position: Position) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _parse_token(token: str | None) -> Position | None:
    if not token:
        return None
    try:
        section, key, after = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token)
                                                                                 % 4)))
        if section not in ("v", "l") or not isinstance(key, str):
            raise ValueError(section)
        return section, key, after
    except (ValueError, TypeError):
        raise ValidationError("after", "token", f"'{token}' is not a snapshot position") from None


def _by_ids(session: Session, query: Any, id_column: Any, ids: list[int]) -> Iterator[Any]:
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
        yield from session.execute(query.where(id_column.in_(chunk)).order_by(id_column))


def _rows(session: Session, release: int, item: ListAt, view: ScopedView | None,
          section: str, after: Any, limit: int) -> tuple[list[Any], Any]:
    """Up to ``limit`` rows after ``after``, and the position of the last one."""
    if section == "v":
        query = version_query(release, item.id)
        if view is None:
            key = (after[0], date.fromisoformat(after[1])) if after else None
            rows = list(session.execute(versions_after(query, key, limit)))
            return rows, [rows[-1][0], rows[-1][1].isoformat()] if rows else after
        ids = view.version_ids
        column: Any = EntryVersion.id
    else:
        query = link_query(release, item.id)
        if view is None:
            rows = list(session.execute(query.where(LineageLink.id > (after or 0))
                                        .order_by(LineageLink.id).limit(limit)))
            return rows, rows[-1][-1] if rows else after
        ids = view.link_ids
        column = LineageLink.id
    start = bisect.bisect_right(ids, after or 0)
    rows = list(_by_ids(session, query, column, ids[start:start + limit]))
    return rows, rows[-1][-1] if rows else after


def _version_values(key: str, row: Any) -> list[Any]:
    return ["version", key, row[0], row[1].isoformat(), row[2].isoformat() if row[2] else None,
            row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10] or {}, row[11],
            row[12]]


def _link_values(key: str, row: Any) -> list[Any]:
    return ["link", key, row[0], row[1], row[2], bool(row[3]), row[4], row[5].isoformat(),
            row[6], row[7]]


VERSION_KEYS = ("t", "list", "code", "valid_from", "valid_to", "status", "name", "short_name",
                "name_en", "type", "level", "parent", "attributes", "release", "change_set")
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
                        token: str | None, limit: int, view_of: ViewGetter) -> bytes:
    """One page of the snapshot at ``point.release`` for ``sub``, after position ``token``."""
    lists = subscribed_lists(session, point.release, sub)
    keys = [item.key for item in lists]
    views = {item.key: view_of(session, point.release, item) for item in lists}
    position = _parse_token(token)
    writer = PageWriter()
    header: dict[str, Any] = {"t": "snapshot", "format": RECORD_FORMAT, "epoch": epoch,
                              "release": point.release, "seq": point.seq, "hash": point.hash,
                              "after": token or None, "subscription": sub.as_dict()}
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
        rows, after = _rows(session, point.release, item, views[item.key], section, after,
                            wanted)
        if section == "v":
            writer.rows(VERSION_KEYS, (_version_values(item.key, row) for row in rows))
        else:
            writer.rows(LINK_KEYS, (_link_values(item.key, row) for row in rows))
        if len(rows) < wanted:
            index, after = index + 1, None
    header["next"] = next_token
    return writer.encode(header)
