"""Per-list state checksums at a release, the same at the centre and in every replica (§9.11).

A list's checksum is the sum, modulo 2²⁵⁶, of the SHA-256 of the canonical JSON of each of
its rows (entry versions, lineage links) and of its definition. A sum is order-independent,
so any two databases that hold the same rows agree whatever order they read them in, and
unlike XOR a row held twice does not cancel out. The counts and the parts are kept apart so
that a mismatch can say whether versions, links or the definition differ.

The row forms use the feed's record vocabulary (``parent``, ``release``, ``change_set``),
with dates as ISO text, so a replica computes them from its own tables without knowing the
centre's schema. This module is the one definition both sides import.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from registry.models import CodeList, EntryVersion, FeedRecord, LineageLink, Release
from registry.services.read_memo import memoised

MODULUS = 1 << 256

# The fields of one entry version and one lineage link, in the feed's record vocabulary.
VERSION_FIELDS = ("list", "code", "valid_from", "valid_to", "status", "name", "short_name",
                  "name_en", "type", "level", "parent", "attributes", "release", "change_set")
LINK_FIELDS = ("list", "from", "to", "kind", "default", "share", "effective_date", "release",
               "change_set")


# Same serialisation as the feed's canonical JSON: sorted keys, no spaces, UTF-8 as is.
# One encoder for every row: ``json.dumps`` with options builds a new one per call, which
# cost a third of a million-row checksum.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_SHA256 = hashlib.sha256
_QUOTE = json.encoder.encode_basestring  # the C quoting JSONEncoder uses, UTF-8 as is
_FROM_BYTES = int.from_bytes


def _canonical(value: Mapping[str, Any]) -> bytes:
    return _ENCODE(value).encode("utf-8")


def _digest(kind: str, value: Mapping[str, Any]) -> int:
    payload = kind.encode("ascii") + b"\x00" + _canonical(value)
    return _FROM_BYTES(_SHA256(payload).digest(), "big")


def _text(value: str | None) -> str:
    return "null" if value is None else _QUOTE(value)


class CanonicalAttributes:
    """The canonical JSON of attribute values given as stored text or as objects.

    Attributes repeat: in the bundled data 32,426 of 32,722 versions have none, and 275
    texts cover all of them. Each distinct stored text is parsed and re-encoded once per
    checksum (up to :attr:`LIMIT` of them at a time).
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._seen: dict[str, str] = {"{}": "{}"}

    def __call__(self, value: str | Mapping[str, Any] | None) -> str:
        if not value:
            return "{}"
        if not isinstance(value, str):
            return _ENCODE(value)
        found = self._seen.get(value)
        if found is None:
            if len(self._seen) >= self.LIMIT:
                self._seen = {"{}": "{}"}
            found = self._seen[value] = _ENCODE(json.loads(value) or {})
        return found


def version_digest_of(list_key: str, code: str, valid_from: str, valid_to: str | None,
                      status: str, name: str, short_name: str | None, name_en: str | None,
                      type_: str, level: str, parent: str | None, attributes_json: str,
                      release: int, change_set: int | None) -> int:
    """:func:`version_digest` of values already in the record vocabulary (dates as ISO
    text, numbers as ints, the attributes as canonical JSON text): the hot loop of a
    checksum over a whole list.

    The canonical JSON is written field by field, keys in sorted order, each string by the
    encoder's own C quoting, which is what :data:`_ENCODE` does with the same dictionary
    (a property test holds the two equal) at half the cost.
    """
    text = (f'{{"attributes":{attributes_json},'
            f'"change_set":{"null" if change_set is None else int(change_set)},'
            f'"code":{_QUOTE(code)},"level":{_text(level)},"list":{_QUOTE(list_key)},'
            f'"name":{_text(name)},"name_en":{_text(name_en)},"parent":{_text(parent)},'
            f'"release":{int(release)},"short_name":{_text(short_name)},'
            f'"status":{_text(status)},"type":{_text(type_)},'
            f'"valid_from":{_text(valid_from)},"valid_to":{_text(valid_to)}}}')
    return _FROM_BYTES(_SHA256(b"version\x00" + text.encode("utf-8")).digest(), "big")


def iso(value: date | str | None) -> str | None:
    """A date as ISO text (databases hand dates back as objects or as text)."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def version_digest(row: Mapping[str, Any]) -> int:
    """Digest of one entry version given as a mapping with :data:`VERSION_FIELDS`."""
    return _digest("version", {
        "list": row["list"], "code": row["code"], "valid_from": iso(row["valid_from"]),
        "valid_to": iso(row["valid_to"]), "status": row["status"], "name": row["name"],
        "short_name": row["short_name"], "name_en": row["name_en"], "type": row["type"],
        "level": row["level"], "parent": row["parent"], "attributes": row["attributes"] or {},
        "release": int(row["release"]),
        "change_set": None if row["change_set"] is None else int(row["change_set"]),
    })


def link_digest(row: Mapping[str, Any]) -> int:
    """Digest of one lineage link given as a mapping with :data:`LINK_FIELDS`."""
    share = row["share"]
    return _digest("link", {
        "list": row["list"], "from": row["from"], "to": row["to"], "kind": row["kind"],
        "default": bool(row["default"]), "share": None if share is None else float(share),
        "effective_date": iso(row["effective_date"]), "release": int(row["release"]),
        "change_set": None if row["change_set"] is None else int(row["change_set"]),
    })


def definition_digest(list_key: str, definition: Mapping[str, Any], release: int) -> int:
    """Digest of a list's definition as recorded at ``release``."""
    return _digest("list", {"list": list_key, "definition": definition, "release": int(release)})


@dataclass
class ListChecksum:
    """The checksum of one list, built row by row in any order."""

    list_key: str
    definition: int = 0
    versions: int = 0
    links: int = 0
    version_sum: int = 0
    link_sum: int = 0

    def add_version(self, row: Mapping[str, Any]) -> None:
        """Count one entry version."""
        self.versions += 1
        self.version_sum = (self.version_sum + version_digest(row)) % MODULUS

    def add_version_digests(self, digests: Iterable[int]) -> None:
        """Count entry versions by their digests (summed first, reduced once)."""
        total, count = 0, 0
        for digest in digests:
            total += digest
            count += 1
        self.versions += count
        self.version_sum = (self.version_sum + total) % MODULUS

    def add_link(self, row: Mapping[str, Any]) -> None:
        """Count one lineage link."""
        self.links += 1
        self.link_sum = (self.link_sum + link_digest(row)) % MODULUS

    def set_definition(self, definition: Mapping[str, Any], release: int) -> None:
        """Record the list's definition."""
        self.definition = definition_digest(self.list_key, definition, release)

    @property
    def checksum(self) -> str:
        """The whole list in 64 hex digits."""
        total = (self.definition + self.version_sum + self.link_sum) % MODULUS
        return f"{total:064x}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form served by the centre and compared by replicas."""
        return {"list": self.list_key, "checksum": self.checksum,
                "versions": self.versions, "links": self.links,
                "versions_sum": f"{self.version_sum:064x}", "links_sum": f"{self.link_sum:064x}",
                "definition": f"{self.definition:064x}"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ListChecksum:
        """Read back :meth:`as_dict`."""
        return cls(list_key=str(data["list"]), definition=int(data["definition"], 16),
                   versions=int(data["versions"]), links=int(data["links"]),
                   version_sum=int(data["versions_sum"], 16),
                   link_sum=int(data["links_sum"], 16))

    def differences(self, other: ListChecksum) -> list[str]:
        """What differs between this (local) checksum and ``other`` (the centre's), in words."""
        out: list[str] = []
        if self.definition != other.definition:
            out.append("the list definition differs")
        if self.versions != other.versions:
            out.append(f"{self.versions} entry versions here, {other.versions} at the centre")
        elif self.version_sum != other.version_sum:
            out.append(f"the {self.versions} entry versions differ in content")
        if self.links != other.links:
            out.append(f"{self.links} lineage links here, {other.links} at the centre")
        elif self.link_sum != other.link_sum:
            out.append(f"the {self.links} lineage links differ in content")
        return out


# --- the centre's side ---------------------------------------------------------------------

V = EntryVersion


def visible_at(release: int) -> ColumnElement[bool]:
    """Entry versions the registry said at ``release``; immutable once ``release`` exists."""
    return and_(V.recorded_release <= release,
                or_(V.superseded_release.is_(None), V.superseded_release > release))


VERSION_COLUMNS = (V.code, V.valid_from, V.valid_to, V.status, V.name, V.short_name,
                   V.name_en, V.type, V.level, V.parent_code, V.attributes, V.recorded_release,
                   V.change_set_id, V.id)


def version_query(release: int, list_id: int) -> Select[Any]:
    """One list's entry versions at ``release``: :data:`VERSION_COLUMNS` (the id last).

    Per list and without a join, so that paging on ``(code, valid_from)`` walks the
    ``(list_id, code, valid_from)`` index whatever the planner's statistics say.
    """
    return select(*VERSION_COLUMNS).where(V.list_id == list_id, visible_at(release))


def versions_after(query: Select[Any], after: tuple[str, date] | None,
                   limit: int) -> Select[Any]:
    """The next ``limit`` rows of a :func:`version_query` in key order, after ``after``."""
    if after is not None:
        query = query.where(tuple_(V.code, V.valid_from) > tuple_(literal(after[0]),
                                                                  literal(after[1])))
    return query.order_by(V.code, V.valid_from).limit(limit)


def version_dict(list_key: str, row: Any) -> dict[str, Any]:
    """A row of :func:`version_query` in the record vocabulary, dates as ISO text."""
    return {"list": list_key, "code": row[0], "valid_from": row[1].isoformat(),
            "valid_to": row[2].isoformat() if row[2] else None, "status": row[3],
            "name": row[4], "short_name": row[5], "name_en": row[6], "type": row[7],
            "level": row[8], "parent": row[9], "attributes": row[10] or {},
            "release": row[11], "change_set": row[12]}


L = LineageLink
LINK_COLUMNS = (L.from_code, L.to_code, L.kind, L.is_default, L.share, L.effective_date,
                L.release_id, L.change_set_id, L.id)


def link_query(release: int, list_id: int) -> Select[Any]:
    """One list's lineage links at ``release``: :data:`LINK_COLUMNS` (the id last)."""
    return select(*LINK_COLUMNS).where(L.list_id == list_id, L.release_id <= release)


def link_dict(list_key: str, row: Any) -> dict[str, Any]:
    """A row of :func:`link_query` in the record vocabulary."""
    return {"list": list_key, "from": row[0], "to": row[1], "kind": row[2],
            "default": bool(row[3]), "share": row[4], "effective_date": row[5].isoformat(),
            "release": row[6], "change_set": row[7]}


@dataclass(frozen=True)
class ListAt:
    """A list as it was defined at a release."""

    id: int
    key: str
    definition: dict[str, Any]
    release: int


def lists_at(session: Session, release: int, keys: Iterable[str] | None = None) -> list[ListAt]:
    """Lists that existed at ``release``, with the definition they had then, by key.

    ``code_lists`` holds only the newest definition; a list (re)defined after ``release``
    is looked up in the feed, whose list records are never rewritten. Snapshots are taken at
    the newest release, so that slower path is rare.
    """
    wanted = None if keys is None else set(keys)
    out: list[ListAt] = []
    later: dict[str, CodeList] = {}
    rows = memoised(session, "code_lists",
                    lambda: list(session.scalars(select(CodeList).order_by(CodeList.key))))
    for row in rows:
        if wanted is not None and row.key not in wanted:
            continue
        if row.release_id <= release:
            out.append(ListAt(row.id, row.key, row.definition, row.release_id))
        else:
            later[row.key] = row
    if later:
        last_seq = session.scalar(select(Release.last_seq).where(Release.id == release)) or 0
        found: dict[str, ListAt] = {}
        for text, rel in session.execute(
            select(FeedRecord.record, FeedRecord.release_id)
            .where(FeedRecord.seq <= last_seq, FeedRecord.record.like('{"definition":%'))
            .order_by(FeedRecord.seq)
        ):
            record = json.loads(text)
            if record.get("t") == "list" and record["key"] in later:
                code_list = later[record["key"]]
                found[code_list.key] = ListAt(code_list.id, code_list.key,
                                              record["definition"], rel)
        out.extend(found.values())
        out.sort(key=lambda item: item.key)
    return out


def checksum_rows(list_keys: Iterable[str],
                  definitions: Mapping[str, tuple[Mapping[str, Any], int]],
                  versions: Iterable[Mapping[str, Any]],
                  links: Iterable[Mapping[str, Any]]) -> dict[str, ListChecksum]:
    """Checksums of the given rows, grouped by list; used on both sides of the wire."""
    sums = {key: ListChecksum(key) for key in list_keys}
    for key, (definition, release) in definitions.items():
        if key in sums:
            sums[key].set_definition(definition, release)
    for row in versions:
        sums[row["list"]].add_version(row)
    for row in links:
        sums[row["list"]].add_link(row)
    return sums


def stream_versions(session: Session, release: int, list_id: int,
                    batch: int = 5000) -> Iterator[Any]:
    """Every version of one list at ``release``, in no particular order (a sum does not
    care), from one streamed query."""
    result = session.execute(version_query(release, list_id),
                             execution_options={"yield_per": batch})
    yield from result


def stream_links(session: Session, release: int, list_id: int,
                 batch: int = 5000) -> Iterator[Any]:
    """Every lineage link of one list at ``release``, by id."""
    query = link_query(release, list_id)
    after = 0
    while True:
        rows = session.execute(query.where(L.id > after).order_by(L.id).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1][-1]


def version_digests(list_key: str, rows: Iterable[Any]) -> Iterator[int]:
    """Digests of rows in :data:`VERSION_COLUMNS` order (code … change set; anything after
    is ignored), dates as objects or ISO text, attributes as objects or JSON text: the same
    as :func:`version_digest` of :func:`version_dict`, without the dictionaries between."""
    attributes = CanonicalAttributes()
    for row in rows:
        yield version_digest_of(list_key, row[0], iso(row[1]),  # type: ignore[arg-type]
                                iso(row[2]), row[3], row[4], row[5], row[6], row[7], row[8],
                                row[9], attributes(row[10]), row[11], row[12])


def centre_checksums(session: Session, release: int,
                     list_keys: Iterable[str] | None = None) -> dict[str, ListChecksum]:
    """Checksums of whole lists at ``release`` as the centre records them."""
    out: dict[str, ListChecksum] = {}
    for item in lists_at(session, release, list_keys):
        sums = out[item.key] = ListChecksum(item.key)
        sums.set_definition(item.definition, item.release)
        sums.add_version_digests(version_digests(
            item.key, stream_versions(session, release, item.id)))
        for row in stream_links(session, release, item.id):
            sums.add_link(link_dict(item.key, row))
    return out
