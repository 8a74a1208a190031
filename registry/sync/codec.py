"""The body of every paged answer: one header line, then one compact line per record.

A record ``{"a": 1, "b": "x"}`` travels as ``[0, 1, "x"]``: the first number picks a key
list (a *schema*) declared in the header, the rest are the values in that order. Key names
are not repeated, so a gzipped page is about the size of a gzipped CSV of the same rows,
and the receiver rebuilds the exact record, hence its canonical JSON and its chain hash.

The header's ``digest`` is the SHA-256 of every byte after the header line, so one changed
byte anywhere in a page is noticed before anything is applied.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from registry.errors import FeedIntegrityError


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_page(header: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """The page body: header (with ``schemas``, ``count`` and ``digest``) and records."""
    schemas: dict[tuple[str, ...], int] = {}
    lines: list[str] = []
    for record in records:
        keys = tuple(sorted(record))
        index = schemas.get(keys)
        if index is None:
            index = schemas[keys] = len(schemas)
        lines.append(_dumps([index, *(record[k] for k in keys)]))
    body = "".join(line + "\n" for line in lines).encode("utf-8")
    full = {**header, "schemas": [list(k) for k in schemas], "count": len(lines),
            "digest": hashlib.sha256(body).hexdigest()}
    return _dumps(full).encode("utf-8") + b"\n" + body


def check_digest(header: dict[str, Any], body: bytes, where: str) -> None:
    """Refuse a page whose bytes are not the ones its header vouches for."""
    if hashlib.sha256(body).hexdigest() != header.get("digest"):
        raise FeedIntegrityError(f"{where}: the page's bytes do not match its digest (changed "
                                 "in transit or in a cache); nothing was applied")


def decode_header(data: bytes, where: str, check: bool = True) -> tuple[dict[str, Any], bytes]:
    """Split a page into its header and its record bytes; check the digest unless told
    not to (change pages check the hash chain first, to name the seq that fails)."""
    head, sep, body = data.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError:
        raise FeedIntegrityError(f"{where}: the page header is not valid JSON; "
                                 "nothing was applied") from None
    if not sep or not isinstance(header, dict) or "digest" not in header:
        raise FeedIntegrityError(f"{where}: the page has no valid header; nothing was applied")
    if check:
        check_digest(header, body, where)
    return header, body


def decode_records(header: dict[str, Any], body: bytes, where: str) -> Iterator[dict[str, Any]]:
    """The records of a page whose header was checked by :func:`decode_header`."""
    schemas = [tuple(keys) for keys in header.get("schemas", [])]
    first = header.get("first")
    count = 0
    for number, line in enumerate(body.splitlines(), start=1):
        what = f"seq {first + number - 1}" if isinstance(first, int) else f"line {number}"
        try:
            values = json.loads(line)
            keys = schemas[values[0]]
        except (ValueError, IndexError, TypeError, KeyError):
            raise FeedIntegrityError(f"{where}: {what} is not a valid record (changed in "
                                     "transit or in a cache?); nothing was applied") from None
        if len(keys) != len(values) - 1:
            raise FeedIntegrityError(f"{where}: {what} does not fit its schema; "
                                     "nothing was applied")
        count += 1
        yield dict(zip(keys, values[1:], strict=True))
    if count != header.get("count"):
        raise FeedIntegrityError(f"{where}: {count} records where the header announces "
                                 f"{header.get('count')}; nothing was applied")


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """gzip with a fixed mtime, so the same page always compresses to the same bytes."""
    return gzip.compress(data, compresslevel=level, mtime=0)
