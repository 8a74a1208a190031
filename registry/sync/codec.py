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
from registry.sync.fast_json import load_records


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(values: Iterable[Any]) -> str:
    """Values as one line of PostgreSQL's COPY text format (null as ``\\N``; backslash, tab,
    newline and carriage return escaped), without its newline."""
    return "\t".join("\\N" if value is None else str(value).translate(_COPY_ESCAPES)
                     for value in values)


class PageWriter:
    """Collects the lines of one page."""

    def __init__(self) -> None:
        self._schemas: dict[tuple[str, ...], int] = {}
        self._lines: list[str] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def schema(self, keys: tuple[str, ...]) -> int:
        """The index of the schema ``keys`` in this page (declared on first use)."""
        return self._schema(keys)

    def _schema(self, keys: tuple[str, ...]) -> int:
        index = self._schemas.get(keys)
        if index is None:
            index = self._schemas[keys] = len(self._schemas)
        return index

    def record(self, record: dict[str, Any]) -> None:
        """Add a record given as a mapping."""
        keys = tuple(sorted(record))
        self._lines.append(_dumps([self._schema(keys), *(record[k] for k in keys)]))
        self._count += 1

    def rows(self, keys: tuple[str, ...], rows: Iterable[list[Any]]) -> None:
        """Add records given as value lists in the order of ``keys`` (the fast path)."""
        index = self._schema(keys)
        before = len(self._lines)
        self._lines.extend(_dumps([index, *values]) for values in rows)
        self._count += len(self._lines) - before

    def raw_rows(self, keys: tuple[str, ...], arrays: Iterable[str]) -> None:
        """Add records given as JSON array texts (values only) in the order of ``keys``."""
        prefix = f"[{self._schema(keys)},"
        before = len(self._lines)
        self._lines.extend(prefix + text[1:] if text != "[]" else prefix[:-1] + "]"
                           for text in arrays)
        self._count += len(self._lines) - before

    def block(self, text: str, count: int) -> None:
        """Add ``count`` finished lines at once (joined by newlines, made elsewhere)."""
        if count:
            self._lines.append(text)
            self._count += count

    def encode(self, header: dict[str, Any]) -> bytes:
        """The page: header (with ``schemas``, ``count`` and ``digest``), then the lines."""
        body = "".join(line + "\n" for line in self._lines).encode("utf-8")
        full = {**header, "schemas": [list(k) for k in self._schemas],
                "count": self._count, "digest": hashlib.sha256(body).hexdigest()}
        return _dumps(full).encode("utf-8") + b"\n" + body


def encode_text_page(header: dict[str, Any], texts: list[str]) -> bytes:
    """A page whose lines are the records' canonical JSON texts, as stored."""
    body = ("\n".join(texts) + "\n").encode("utf-8") if texts else b""
    full = {**header, "lines": "canonical", "count": len(texts),
            "digest": hashlib.sha256(body).hexdigest()}
    return _dumps(full).encode("utf-8") + b"\n" + body


def encode_page(header: dict[str, Any], records: Iterable[dict[str, Any]]) -> bytes:
    """A page of records given as mappings."""
    writer = PageWriter()
    for record in records:
        writer.record(record)
    return writer.encode(header)


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


def decode_rows(header: dict[str, Any], body: bytes, where: str
                ) -> tuple[list[tuple[str, ...]], list[list[Any]]]:
    """The schemas and the raw value lists ``[schema, v1, v2, …]`` of a page, checked."""
    schemas = [tuple(keys) for keys in header.get("schemas", [])]
    try:
        # One parse for the whole page: a JSON text never holds a raw newline.
        rows = json.loads(b"[" + body.replace(b"\n", b",")[:-1] + b"]") if body else []
    except ValueError:
        rows = None
    if rows is None or len(rows) != header.get("count"):
        _find_bad_line(header, body, schemas, where)
        raise FeedIntegrityError(f"{where}: the page holds {len(body.splitlines())} lines "
                                 f"where the header announces {header.get('count')}; "
                                 "nothing was applied")
    try:
        # One pass in C-speed comprehension, then one check per distinct shape.
        shapes = {(values[0], len(values)) for values in rows}
        fits = all(isinstance(index, int) and not isinstance(index, bool)
                   and 0 <= index < len(schemas) and len(schemas[index]) == size - 1
                   for index, size in shapes)
    except (TypeError, KeyError, IndexError):
        fits = False
    if not fits:
        for number, values in enumerate(rows, start=1):
            if (not isinstance(values, list) or not values or not isinstance(values[0], int)
                    or not 0 <= values[0] < len(schemas)
                    or len(schemas[values[0]]) != len(values) - 1):
                raise FeedIntegrityError(f"{where}: {_what(header, number)} does not fit "
                                         "its schema; nothing was applied")
    return schemas, rows


def _what(header: dict[str, Any], number: int) -> str:
    first = header.get("first")
    return f"seq {first + number - 1}" if isinstance(first, int) else f"line {number}"


def _find_bad_line(header: dict[str, Any], body: bytes, schemas: list[tuple[str, ...]],
                   where: str) -> None:
    for number, line in enumerate(body.splitlines(), start=1):
        try:
            json.loads(line)
        except ValueError:
            raise FeedIntegrityError(f"{where}: {_what(header, number)} is not a valid record "
                                     "(changed in transit or in a cache?); nothing was "
                                     "applied") from None


def decode_canonical(header: dict[str, Any], body: bytes, where: str
                     ) -> tuple[list[dict[str, Any]], list[bytes]]:
    """The records of a page of canonical texts (``lines: canonical``), and each line's
    bytes as they came: the chain hashes those, not a re-encoding of the record."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        records = load_records(lines) if lines else []
    except ValueError:
        records = None
    if records is None or len(records) != header.get("count") or len(records) != len(lines) \
            or not all(isinstance(record, dict) for record in records):
        for number, line in enumerate(lines, start=1):
            try:
                ok = isinstance(json.loads(line), dict)
            except ValueError:
                ok = False
            if not ok:
                raise FeedIntegrityError(f"{where}: {_what(header, number)} is not a valid "
                                         "record (changed in transit or in a cache?); "
                                         "nothing was applied")
        raise FeedIntegrityError(f"{where}: the page holds {len(lines)} lines where the "
                                 f"header announces {header.get('count')}; nothing was "
                                 "applied")
    return records, lines


def decode_records(header: dict[str, Any], body: bytes, where: str) -> Iterator[dict[str, Any]]:
    """The records of a page as mappings."""
    schemas, rows = decode_rows(header, body, where)
    for values in rows:
        yield dict(zip(schemas[values[0]], values[1:], strict=True))


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """gzip with a fixed mtime, so the same page always compresses to the same bytes."""
    return gzip.compress(data, compresslevel=level, mtime=0)
