"""Snapshots: the state at a release, in pages, for bootstrapping a replica (§9.4).

The snapshot at release R holds the lists, the entry versions and the lineage links that
the registry said at R. Rows visible at R never change (a later release only supersedes
them from then on), so a snapshot page is a pure function of (R, subscription, position):
it is served ``immutable``, and a replica may fetch the pages over minutes without any
long-running transaction at the centre. After the snapshot the replica follows the changes
after R's last seq.

Sections come in this order, each by row id: list definitions, then per list its entry
versions, then per list its links. The position token ``"v:LIST:ID"`` or ``"l:LIST:ID"``
names the last row sent.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import NotFound, ValidationError
from registry.models import EntryVersion, FeedRecord, LineageLink, Release
from registry.services.checksums import (
    ListAt,
    link_dict,
    link_query,
    lists_at,
    version_dict,
    version_query,
    visible_at,
)
from registry.services.feed import GENESIS_HASH, RECORD_FORMAT
from registry.sync.codec import encode_page
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


def _parse_token(token: str | None, keys: list[str]) -> tuple[str, int, int]:
    if not token:
        return "start", 0, 0
    try:
        section, key, after = token.split(":", 2)
        return section, keys.index(key), int(after)
    except ValueError:
        raise ValidationError("after", "token", f"'{token}' is not a snapshot position") from None


def _by_ids(session: Session, query: Any, id_column: Any, ids: list[int]) -> Iterator[Any]:
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
        yield from session.execute(query.where(id_column.in_(chunk)).order_by(id_column))


def _rows(session: Session, release: int, item: ListAt, view: ScopedView | None,
          section: str, after: int, limit: int) -> list[Any]:
    if section == "v":
        query, column = version_query(release, [item.id]), EntryVersion.id
        scoped = view.version_ids if view else None
    else:
        query, column = link_query(release, [item.id]), LineageLink.id
        scoped = view.link_ids if view else None
    if scoped is None:
        return list(session.execute(query.where(column > after).order_by(column).limit(limit)))
    start = bisect.bisect_right(scoped, after)
    return list(_by_ids(session, query, column, scoped[start:start + limit]))


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
    section, index, after = _parse_token(token, keys)
    records: list[dict[str, Any]] = []
    header: dict[str, Any] = {"t": "snapshot", "format": RECORD_FORMAT, "epoch": epoch,
                              "release": point.release,
                              "seq": point.seq, "hash": point.hash, "after": token or None,
                              "subscription": sub.as_dict()}
    if section == "start":
        header["lists"] = counts(session, point.release, lists, views)
        records.extend({"t": "list", "key": item.key, "definition": item.definition,
                        "release": item.release} for item in lists)
        section, index, after = "v", 0, 0
    next_token: str | None = None
    while True:
        if index >= len(lists):
            if section == "v":
                section, index, after = "l", 0, 0
                continue
            break
        item = lists[index]
        if len(records) >= limit:
            next_token = f"{section}:{item.key}:{after}"
            break
        wanted = limit - len(records)
        rows = _rows(session, point.release, item, views[item.key], section, after, wanted)
        convert = version_dict if section == "v" else link_dict
        t = "version" if section == "v" else "link"
        records.extend({"t": t, **convert(row)} for row in rows)
        if rows:
            after = rows[-1][-1]
        if len(rows) < wanted:
            index, after = index + 1, 0
    header["next"] = next_token
    return encode_page(header, records)
