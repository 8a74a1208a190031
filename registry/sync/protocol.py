"""What the centre and its replicas agree on: paths, limits, formats, subscriptions.

Everything here is part of the wire contract documented in docs/sync-protocol.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from registry.errors import ValidationError

PREFIX = "/sync/v1"
# The record format this code reads and writes. A replica that meets a larger number stops.
SUPPORTED_FORMAT = 1
DEFAULT_PAGE_SIZE = 1000
DEFAULT_SNAPSHOT_LIMIT = 10000
MAX_SNAPSHOT_LIMIT = 50000
MAX_WAIT = 60.0
NDJSON = "application/x-ndjson"
DEFAULT_SCOPE_LIST = "admin-units"

# The keys of a version in a snapshot page, in the order the centre writes them. Snapshot
# versions carry their attributes as JSON text, which a replica stores as it is.
SNAPSHOT_VERSION_KEYS = ("t", "list", "code", "valid_from", "valid_to", "status", "name",
                         "short_name", "name_en", "type", "level", "parent", "attributes_json",
                         "release", "change_set")

# A replica that loads rows with PostgreSQL's COPY asks for snapshot versions as lines of
# COPY's text format (``lines=copy``): these columns, tab-separated, ``\N`` for null,
# backslash, tab, newline and carriage return escaped. PostgreSQL reads them several times
# faster than it parses the same rows as JSON, and the replica passes the bytes on as
# they are. Every other record of the page stays a JSON line (a line starting with ``[``).
COPY_VERSION_COLUMNS = SNAPSHOT_VERSION_KEYS[1:]
LINE_ENCODINGS = ("json", "copy")
# A replica may ask for change pages whose lines are the records' canonical JSON texts,
# the very bytes the chain hashes (``lines=canonical``): it hashes each line as it came,
# instead of rebuilding every record's canonical text, and the centre sends the texts it
# stores, instead of decoding and re-encoding them.
CHANGE_LINE_ENCODINGS = ("json", "canonical")
CANONICAL_LINES = {"lines": "canonical"}  # what a replica asks change pages with
# The feed's head seq when a change page was served: a hint for fetching ahead, never
# trusted for what is applied (the hash chain decides that).
HEAD_SEQ_HEADER = "X-Registry-Head-Seq"

_LIST_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Scope:
    """The entries of ``list_key`` that are ``code`` or lie under it (at their validity)."""

    list_key: str
    code: str

    def __str__(self) -> str:
        return f"{self.list_key}:{self.code}"


@dataclass(frozen=True)
class Subscription:
    """What a replica holds: some lists (``None``: all of them) and at most one scope."""

    lists: tuple[str, ...] | None = None
    scope: Scope | None = None

    def includes(self, list_key: str) -> bool:
        """Whether records of ``list_key`` belong to this subscription."""
        return self.lists is None or list_key in self.lists

    @property
    def is_full(self) -> bool:
        """Every list, no scope: the replica follows the hash-chained change pages (the
        others follow deltas, with only their lists' records)."""
        return self.scope is None and self.lists is None

    def query(self) -> str:
        """The canonical query string, so that equal subscriptions share cached URLs."""
        parts = []
        if self.lists is not None:
            parts.append("lists=" + ",".join(self.lists))
        if self.scope is not None:
            parts.append(f"scope={self.scope}")
        return "&".join(parts)

    def describe(self) -> str:
        """For people."""
        lists = ", ".join(self.lists) if self.lists is not None else "all lists"
        return lists + (f", scope {self.scope}" if self.scope else "")

    def as_dict(self) -> dict[str, object]:
        """The JSON form stored in replicas and reported to the ledger."""
        return {"lists": list(self.lists) if self.lists is not None else None,
                "scope": str(self.scope) if self.scope else None}


def parse_lists(raw: str | None) -> tuple[str, ...] | None:
    """``a,b,c`` → sorted unique keys; empty or ``None`` means every list."""
    if raw is None or not raw.strip():
        return None
    keys = sorted({part.strip() for part in raw.split(",") if part.strip()})
    for key in keys:
        if not _LIST_KEY.match(key):
            raise ValidationError("lists", "pattern", f"'{key}' is not a list key")
    return tuple(keys)


def parse_scope(raw: str | None) -> Scope | None:
    """``LIST:CODE``, or a bare ``CODE`` of the administrative units (``01`` = Hà Nội)."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    list_key, _, code = text.rpartition(":")
    list_key = list_key or DEFAULT_SCOPE_LIST
    if not _LIST_KEY.match(list_key) or not _CODE.match(code):
        raise ValidationError("scope", "pattern",
                              f"'{raw}' is not a scope: use LIST:CODE or a code of "
                              f"{DEFAULT_SCOPE_LIST}, e.g. 01")
    return Scope(list_key, code)


def parse_subscription(lists: str | None, scope: str | None) -> Subscription:
    """A subscription from its two query parameters (or CLI options)."""
    keys = parse_lists(lists)
    found = parse_scope(scope)
    if found is not None and keys is not None and found.list_key not in keys:
        raise ValidationError("scope", "list",
                              f"the scope is in '{found.list_key}', which is not among the "
                              f"subscribed lists ({', '.join(keys)})")
    return Subscription(keys, found)


def page_of(seq: int, size: int) -> int:
    """The change page holding ``seq`` (page k covers seqs k·size+1 … (k+1)·size)."""
    return (seq - 1) // size


def from_wire(record: dict[str, Any]) -> dict[str, Any]:
    """A record in the feed's vocabulary: snapshot versions carry ``attributes_json``."""
    if "attributes_json" in record:
        record = dict(record)
        text = record.pop("attributes_json")
        record["attributes"] = json.loads(text) if text else {}
    return record
