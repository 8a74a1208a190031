"""Scoped deltas: what one release changes in a scoped subscription (§9.8).

A scoped replica cannot verify the hash chain, since it does not receive every record.
It receives instead, per release, the difference between the scoped view before and after
the release: upserts (new or changed versions, and versions that moved into the scope) and
removals (versions and links that left it). The delta carries the centre's checksum of each
list it touches, computed on the scoped view at the release; the replica applies the delta
and compares its own checksum inside the same transaction, so a wrong or tampered delta is
refused and a scoped replica is proven equal to the centre at every release.

Lists without a scope in a scoped subscription get the release's own feed records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import EntryVersion, FeedRecord, LineageLink
from registry.services.checksums import (
    ListAt,
    ListChecksum,
    checksum_rows,
    link_dict,
    link_query,
    lists_at,
    version_dict,
    version_query,
)
from registry.services.feed import RECORD_FORMAT
from registry.sync.codec import encode_page
from registry.sync.protocol import Subscription
from registry.sync.scope import ScopedView
from registry.sync.snapshot import ReleasePoint, _by_ids, subscribed_lists

ViewGetter = Callable[[Session, int, ListAt], ScopedView | None]
ChecksumGetter = Callable[[Session, int, ListAt], ListChecksum]


def _record_list(record: dict[str, Any]) -> str | None:
    if record.get("t") == "list":
        return str(record["key"])
    value = record.get("list")
    return str(value) if value is not None else None


def release_records(session: Session, release: int) -> list[dict[str, Any]]:
    """The feed records of one release, in order."""
    return [json.loads(text) for text in session.scalars(
        select(FeedRecord.record).where(FeedRecord.release_id == release)
        .order_by(FeedRecord.seq))]


def scoped_checksum(session: Session, release: int, item: ListAt,
                    view: ScopedView) -> ListChecksum:
    """The checksum of a scoped view, the same computation a replica makes on its rows."""
    versions = (version_dict(item.key, row) for row in _by_ids(
        session, version_query(release, item.id), EntryVersion.id, view.version_ids))
    links = (link_dict(item.key, row) for row in _by_ids(
        session, link_query(release, item.id), LineageLink.id, view.link_ids))
    return checksum_rows([item.key], {item.key: (item.definition, item.release)},
                         versions, links)[item.key]


def _scoped_changes(session: Session, release: int, item: ListAt, before: ScopedView | None,
                    now: ScopedView) -> list[dict[str, Any]]:
    old_keys = before.key_ids if before else {}
    old_links = before.link_keys if before else {}
    upsert_ids = sorted(row_id for key, row_id in now.key_ids.items()
                        if key not in old_keys or now.key_release[key] == release)
    out: list[dict[str, Any]] = [
        {"t": "version", **version_dict(item.key, row)} for row in _by_ids(
            session, version_query(release, item.id), EntryVersion.id, upsert_ids)]
    for code, valid_from in sorted(set(old_keys) - set(now.key_ids)):
        out.append({"t": "remove", "list": item.key, "code": code, "valid_from": valid_from})
    new_links = sorted(row_id for key, row_id in now.link_keys.items() if key not in old_links)
    out.extend({"t": "link", **link_dict(item.key, row)} for row in _by_ids(
        session, link_query(release, item.id), LineageLink.id, new_links))
    for from_code, to_code, effective in sorted(set(old_links) - set(now.link_keys)):
        out.append({"t": "remove", "kind": "link", "list": item.key, "from": from_code,
                    "to": to_code, "effective_date": effective})
    return out


def build_delta(session: Session, epoch: str, point: ReleasePoint, sub: Subscription,
                view_of: ViewGetter, checksum_of: ChecksumGetter) -> bytes:
    """The delta of release ``point.release`` for a scoped subscription."""
    release = point.release
    lists = subscribed_lists(session, release, sub)
    by_key = {item.key: item for item in lists}
    feed_records = release_records(session, release)
    touched = sorted({key for key in map(_record_list, feed_records) if key in by_key})
    records: list[dict[str, Any]] = []
    checksums: dict[str, Any] = {}
    for key in touched:
        item = by_key[key]
        view = view_of(session, release, item)
        if view is None:
            for record in feed_records:
                if _record_list(record) == key:
                    records.append({k: v for k, v in record.items() if k != "seq"})
        else:
            earlier = lists_at(session, release - 1, [key]) if release > 1 else []
            before = view_of(session, release - 1, earlier[0]) if earlier else None
            if any(r.get("t") == "list" and r["key"] == key for r in feed_records):
                records.append({"t": "list", "key": key, "definition": item.definition,
                                "release": item.release})
            records.extend(_scoped_changes(session, release, item, before, view))
        checksums[key] = checksum_of(session, release, item).as_dict()
    marker = next((r for r in reversed(feed_records) if r.get("t") == "release"), None)
    if marker is not None:
        records.append({k: v for k, v in marker.items() if k != "seq"})
    header = {"t": "delta", "format": RECORD_FORMAT, "epoch": epoch, "release": release,
              "from_release": release - 1, "seq": point.seq, "hash": point.hash,
              "subscription": sub.as_dict(), "checksums": checksums}
    return encode_page(header, records)
