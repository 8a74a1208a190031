"""Per-list checksums kept at publish time, so the centre's side of a verify is one probe.

A list's checksum (:mod:`registry.services.checksums`) is a sum of row digests modulo
2²⁵⁶: the publisher adds the digests of the release's new versions and links (read back
from the release's own feed records, which carry every field in the checksum's
vocabulary) and subtracts those of the versions the release superseded. The result is
stored per list and release; the checksum at release R is the list's newest row at or
before R.

A list published before checksums were kept has no row yet: the first release that
changes it computes its sums once from its rows, and until then :func:`checksum_at`
answers ``None`` (the caller computes on demand, as before).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from registry.models import CodeList, EntryVersion, FeedRecord, LineageLink, ListChecksumRow
from registry.services.checksums import (
    MODULUS,
    VERSION_COLUMNS,
    ListAt,
    ListChecksum,
    centre_checksums,
    link_digest,
    lists_at,
    version_digest,
    version_digests,
)


def _from_row(key: str, row: ListChecksumRow) -> ListChecksum:
    return ListChecksum(key, definition=int(row.definition, 16), versions=row.versions,
                        links=row.links, version_sum=int(row.versions_sum, 16),
                        link_sum=int(row.links_sum, 16))


def checksum_at(session: Session, release: int, item: ListAt) -> ListChecksum | None:
    """The kept checksum of ``item`` at ``release``, or ``None`` if none was kept."""
    row = session.scalars(
        select(ListChecksumRow)
        .where(ListChecksumRow.list_id == item.id, ListChecksumRow.release_id <= release)
        .order_by(ListChecksumRow.release_id.desc()).limit(1)).first()
    return None if row is None else _from_row(item.key, row)


def _changed_before(session: Session, list_id: int, release: int) -> bool:
    """Whether the list had any row before ``release`` (then its sums must start from them)."""
    V, L = EntryVersion, LineageLink
    return bool(session.scalar(select(
        exists().where(V.list_id == list_id, V.recorded_release < release)
        | exists().where(L.list_id == list_id, L.release_id < release))))


def record_release(session: Session, release: int) -> None:
    """Keep the checksum of every list ``release`` changed. Call once the release's rows and
    feed records are written and before the head moves, in the publishing transaction."""
    versions: dict[str, list[int]] = {}
    links: dict[str, list[int]] = {}
    redefined: set[str] = set()
    for (text,) in session.execute(select(FeedRecord.record)
                                   .where(FeedRecord.release_id == release)):
        record = json.loads(text)
        kind = record["t"]
        if kind == "version":
            versions.setdefault(record["list"], []).append(version_digest(record))
        elif kind == "link":
            links.setdefault(record["list"], []).append(link_digest(record))
        elif kind == "list":
            redefined.add(record["key"])
    ids = {row.id: row.key for row in session.scalars(select(CodeList))}
    superseded: dict[str, list[int]] = {}
    rows = session.execute(select(EntryVersion.list_id, *VERSION_COLUMNS)
                           .where(EntryVersion.superseded_release == release))
    for row in rows:
        superseded.setdefault(ids[row[0]], []).extend(version_digests(ids[row[0]], [row[1:]]))
    touched = set(versions) | set(links) | redefined | set(superseded)
    if not touched:
        return
    for item in lists_at(session, release, touched):
        before = checksum_at(session, release - 1, item)
        if before is None:
            if _changed_before(session, item.id, release):
                before = centre_checksums(session, release - 1, [item.key])[item.key]
            else:
                before = ListChecksum(item.key)
        before.set_definition(item.definition, item.release)
        _add(before, versions.get(item.key, ()), superseded.get(item.key, ()),
             links.get(item.key, ()))
        session.add(ListChecksumRow(
            list_id=item.id, release_id=release, versions=before.versions,
            links=before.links, versions_sum=f"{before.version_sum:064x}",
            links_sum=f"{before.link_sum:064x}", definition=f"{before.definition:064x}"))
    session.flush()


def _add(sums: ListChecksum, added: Iterable[int], removed: Iterable[int],
         links: Iterable[int]) -> None:
    added, removed, links = list(added), list(removed), list(links)
    sums.versions += len(added) - len(removed)
    sums.version_sum = (sums.version_sum + sum(added) - sum(removed)) % MODULUS
    sums.links += len(links)
    sums.link_sum = (sums.link_sum + sum(links)) % MODULUS


def changed_lists(session: Session, since: int, until: int) -> frozenset[str]:
    """The keys of the lists changed (versions, links or definition) by the releases after
    ``since`` up to ``until``: every release keeps a checksum row for each list it changes.
    """
    return frozenset(session.scalars(
        select(CodeList.key).distinct()
        .join(ListChecksumRow, ListChecksumRow.list_id == CodeList.id)
        .where(ListChecksumRow.release_id > since, ListChecksumRow.release_id <= until)))
