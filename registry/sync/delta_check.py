"""The checksum a delta must leave, computed from the rows it touches (DESIGN §9.11).

A replica that follows deltas (some lists, or a scope) proves each release by comparing its
checksum of every list the release touched with the centre's. A checksum is a sum, so it
need not be recomputed over the whole list: the centre sends each touched list's checksum
before the release as well, and the replica's after it is

    centre's before − (the touched codes' rows here, before) + (the same rows, after).

Which rows are touched is read from the delta itself: the codes of its versions and version
removals, the ``from`` codes of its links and link removals. Rows of those codes that the
release does not change appear on both sides and cancel out; a row the delta should have
changed and did not (a removal left out, a version withheld) stays in the sum and the
comparison fails. The "before" the replica relies on was proved equal to the centre's when
the release that made it was applied (or taken with the snapshot), so the cost of a release
is that of its own rows, not of the list: a one-record release of a million-version list
is checked in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from registry.services.checksums import MODULUS, ListChecksum, version_digests
from registry.sync.local_store import LocalStore

# Codes per statement: well under every target's limit on bound parameters.
CHUNK = 500


@dataclass
class Touched:
    """The codes of one list that a delta touches."""

    codes: set[str] = field(default_factory=set)
    link_from: set[str] = field(default_factory=set)


def touched_codes(records: Iterable[Mapping[str, Any]]) -> dict[str, Touched]:
    """Per list, the codes whose rows the delta's records may change."""
    out: dict[str, Touched] = {}
    for record in records:
        kind = record.get("t")
        if kind not in ("version", "link", "remove"):
            continue
        touched = out.setdefault(str(record["list"]), Touched())
        if kind == "link" or (kind == "remove" and record.get("kind") == "link"):
            touched.link_from.add(str(record["from"]))
        else:
            touched.codes.add(str(record["code"]))
    return out


def _chunks(values: set[str]) -> Iterable[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def touched_sums(store: LocalStore, conn: Connection,
                 touched: Mapping[str, Touched]) -> dict[str, ListChecksum]:
    """Per list, the checksum of this replica's rows of the touched codes (no definition)."""
    out: dict[str, ListChecksum] = {}
    for key, which in touched.items():
        sums = out[key] = ListChecksum(key)
        for codes in _chunks(which.codes):
            sums.add_version_digests(version_digests(key, store.version_rows(
                conn, key, codes=codes)))
        for codes in _chunks(which.link_from):
            for link in store.link_records(conn, key, from_codes=codes):
                sums.add_link(link)
    return out


def expected_after(key: str, centre_before: Mapping[str, Any] | None,
                   before: ListChecksum | None, after: ListChecksum | None,
                   definition: int) -> ListChecksum:
    """This replica's checksum of ``key`` after the release, from the centre's before it
    (``None``: the list did not exist) and the touched rows' sums before and after."""
    base = ListChecksum.from_dict(centre_before) if centre_before else ListChecksum(key)
    before = before or ListChecksum(key)
    after = after or ListChecksum(key)
    return ListChecksum(
        key, definition=definition,
        versions=base.versions - before.versions + after.versions,
        links=base.links - before.links + after.links,
        version_sum=(base.version_sum - before.version_sum + after.version_sum) % MODULUS,
        link_sum=(base.link_sum - before.link_sum + after.link_sum) % MODULUS)
