"""Deltas: what one release changes in a subscription to some lists or a scope (§9.8).

Such a replica does not verify the hash chain, since it does not receive every record.
It receives instead, per release, the changes to what it holds: for a scoped list, the
difference between the scoped view before and after the release (upserts: new or changed
versions, and versions that moved into the scope; removals: versions and links that left
it); for a list without a scope, the release's own feed records of that list. The delta
carries the centre's checksum of each list it touches at the release and just before it;
the replica applies the delta and compares its own checksum inside the same transaction
(:mod:`registry.sync.delta_check`), so a wrong or tampered delta is refused and the
replica is proven equal to the centre at every release, having downloaded only its lists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import EntryVersion, FeedRecord, LineageLink, ListChecksumRow
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
from registry.sync.snapshot import _by_ids, release_point, subscribed_lists

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


def first_changing_release(session: Session, lists: list[ListAt], first: int,
                           last: int) -> int:
    """The first release from ``first`` to ``last`` that changes one of ``lists``, else
    ``last``.

    The checksums kept at publish time have a row for every list a release changes, from
    the first release after they were introduced; releases before that are read from the
    feed itself.
    """
    if not lists or first >= last:
        return last  # nothing to look up: a follower's usual delta is of one release
    keys = {item.key for item in lists}
    kept_from = session.scalar(select(func.min(ListChecksumRow.release_id)))
    if kept_from is None:
        kept_from = last + 1
    for release in range(first, min(kept_from, last + 1)):
        if any(_record_list(record) in keys for record in release_records(session, release)):
            return release
    found = session.scalar(select(func.min(ListChecksumRow.release_id)).where(
        ListChecksumRow.list_id.in_([item.id for item in lists]),
        ListChecksumRow.release_id >= max(first, kept_from),
        ListChecksumRow.release_id <= last))
    return int(found) if found is not None else last


# A delta spans releases up to about this many records (a release is never split).
DEFAULT_SPAN_RECORDS = 20_000


def span_records_from_env() -> int:
    """``REGISTRY_SYNC_DELTA_RECORDS`` (default 20,000): records a delta may gather from
    several releases before it stops (bounding the memory of both sides)."""
    return max(1, int(os.environ.get("REGISTRY_SYNC_DELTA_RECORDS", DEFAULT_SPAN_RECORDS)))


def _release_part(session: Session, release: int, sub: Subscription, view_of: ViewGetter
                  ) -> tuple[list[dict[str, Any]], list[ListAt], dict[str, Any] | None]:
    """One release's records for ``sub`` (without its marker), the subscribed lists it
    touches, and its marker with where it ends in the feed (``seq``, ``hash``)."""
    lists = subscribed_lists(session, release, sub)
    by_key = {item.key: item for item in lists}
    feed_records = release_records(session, release)
    touched = sorted({key for key in map(_record_list, feed_records) if key in by_key})
    records: list[dict[str, Any]] = []
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
    found = next((r for r in reversed(feed_records) if r.get("t") == "release"), None)
    marker = None
    if found is not None:
        point = release_point(session, release)
        marker = {**found, "seq": point.seq, "hash": point.hash}
    return records, [by_key[key] for key in touched], marker


def build_delta(session: Session, epoch: str, first: int, through: int, sub: Subscription,
                view_of: ViewGetter, checksum_of: ChecksumGetter,
                span_records: int = DEFAULT_SPAN_RECORDS) -> bytes:
    """The delta from release ``first - 1`` for a subscription to some lists or a scope:
    the releases from ``first`` up to ``through`` that change a subscribed list, each's
    records followed by its marker, until about ``span_records`` records; releases that
    change nothing subscribed are left out, but the last one covered always ends the delta
    with its marker (it is where the replica's cursor goes). The header has the centre's
    checksums of every list touched, before ``first`` and after the last release."""
    records: list[dict[str, Any]] = []
    touched: dict[str, ListAt] = {}
    lists = subscribed_lists(session, through, sub)
    release, last = first, first - 1
    while release <= through:
        release = first_changing_release(session, lists, release, through)
        part, part_lists, marker = _release_part(session, release, sub, view_of)
        if part_lists and records and len(records) + len(part) > span_records:
            break  # the next release would pass the bound: it starts the next delta
        last = release
        records.extend(part)
        touched.update((item.key, item) for item in part_lists)
        if marker is not None:  # a changing release's, or ``through``'s when none changes
            records.append(marker)
        release += 1
    end = release_point(session, last)
    checksums: dict[str, Any] = {}
    checksums_before: dict[str, Any] = {}
    for key, item in sorted(touched.items()):
        earlier = lists_at(session, first - 1, [key]) if first > 1 else []
        checksums_before[key] = (checksum_of(session, first - 1, earlier[0]).as_dict()
                                 if earlier else None)
        now = lists_at(session, last, [key])
        checksums[key] = checksum_of(session, last, now[0] if now else item).as_dict()
    header = {"t": "delta", "format": RECORD_FORMAT, "epoch": epoch, "release": last,
              "from_release": first - 1, "seq": end.seq, "hash": end.hash,
              "subscription": sub.as_dict(), "checksums": checksums,
              "checksums_before": checksums_before}
    return encode_page(header, records)
