"""Bootstrap: a consistent snapshot at one release, staged page by page (DESIGN §9.4).

Each snapshot page is written into the stage tables and committed with its position every
:data:`~registry.sync.client.STAGE_COMMIT` records or so, so an interrupted bootstrap
resumes where it stopped; when every list has arrived with the counts the centre
announced, the stage is swapped in at once, with the cursor, in one transaction. Local
applications never see half a snapshot.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from registry.errors import Conflict, FeedIntegrityError
from registry.sync.apply import BULK_FIELDS
from registry.sync.codec import decode_rows
from registry.sync.local_schema import stage_lineage, stage_lists, stage_versions
from registry.sync.local_store import Batch, Locked, link_row, list_row, version_params
from registry.sync.prefetch import SnapshotPrefetch
from registry.sync.protocol import (
    COPY_VERSION_COLUMNS,
    PREFIX,
    SNAPSHOT_VERSION_KEYS,
    Subscription,
    from_wire,
)
from registry.sync.results import PullResult, ReleaseChanges, RemoteHead

if TYPE_CHECKING:
    from registry.sync.client import SyncClient

log = logging.getLogger("registry.sync")


def take_snapshot(client: SyncClient, head: RemoteHead, result: PullResult,
               sub: Subscription | None = None) -> None:
    """Take a snapshot into the stage tables, page by page (each page committed with its
    position, so an interrupted bootstrap resumes), then swap it in at once."""
    sub = sub or client._subscription(client.store.state())
    stage = client.store.state().stage
    if (stage and stage.get("epoch") == head.epoch
            and stage.get("subscription") == sub.as_dict()):
        log.info("resuming the snapshot of release %d", stage["release"])
    else:
        stage = {"epoch": head.epoch, "release": head.release,
                 "subscription": sub.as_dict(), "next": None, "done": False,
                 "counted": {}, "declared": None, "seq": None, "hash": None}
        with client.store.transaction() as (conn, _state):
            client.store.clear_stage(conn)
            client.store.set_state(conn, stage=stage)
    release = int(stage["release"])
    counted: dict[str, dict[str, int]] = stage["counted"]
    started = False
    locked: Locked | None = None
    pending = 0
    # PostgreSQL reads COPY text lines several times faster than it parses JSON ones.
    lines = "copy" if client.store.dialect == "postgresql" else "json"
    pages = None if stage["done"] else SnapshotPrefetch(
        client.transport, f"{PREFIX}/snapshot/{head.epoch}/{release}", sub,
        client.snapshot_limit, stage["next"], lines)
    try:
        for header, body, where in pages or ():
            if header.get("t") != "snapshot" or header.get("epoch") != head.epoch \
                    or header.get("release") != release:
                raise FeedIntegrityError(f"{where}: this is not the snapshot page that "
                                         "was asked for; nothing was applied")
            client._check_format(header, where)
            if stage["declared"] is None:
                stage.update(declared=header.get("lists") or {}, seq=int(header["seq"]),
                             hash=str(header["hash"]))
            if client.progress and not started:
                total = sum(v["versions"] + v["links"] for v in stage["declared"].values())
                client.progress.start(total, f"snapshot of release {release}")
                client.progress.advance(sum(v["versions"] + v["links"]
                                          for v in counted.values()))
                started = True
            if locked is None:
                locked = client.store.begin()
                if (locked.state.stage or {}).get("next") != header.get("after"):
                    raise Conflict("another client is writing this snapshot; run one "
                                   "client per database")
            n = _apply_snapshot_page(client, locked.conn, header, body, where, counted)
            stage.update(next=header.get("next"), done=not header.get("next"),
                         counted=counted)
            pending += n
            if pending >= client.stage_commit or stage["done"]:
                # Commit the pages with their position, every 50,000 records or so:
                # fewer commits are faster, and a restart loses at most that much.
                client.store.set_state(locked.conn, stage=stage)
                locked.commit()
                locked, pending = None, 0
            if client.progress:
                client.progress.advance(n)
            result.records += n
    finally:
        if locked is not None:
            locked.rollback()
        if pages is not None:
            pages.close()
        if started and client.progress:
            client.progress.finish()
    declared: dict[str, dict[str, int]] = stage["declared"] or {}
    for key, want in declared.items():
        have = counted.get(key, {"versions": 0, "links": 0})
        if have != want:
            with client.store.transaction() as (conn, _state):
                client.store.clear_stage(conn)
                client.store.set_state(conn, stage=None)
            raise FeedIntegrityError(
                f"snapshot of release {release}: '{key}' arrived with {have['versions']} "
                f"versions and {have['links']} links, the centre announced "
                f"{want['versions']} and {want['links']}; nothing was applied")
    seq, digest = int(stage["seq"]), str(stage["hash"])
    with client.store.transaction() as (conn, _state):
        client.store.promote_stage(conn)
        client.store.record_release(conn, release, seq, digest, {"title": "snapshot"})
        client.store.set_state(
            conn, source=client.transport.base_url, epoch=head.epoch, seq=seq, hash=digest,
            release_id=release, lists=sub.lists,
            scope=str(sub.scope) if sub.scope else None, consumer=client.name,
            record_format=client.supported_format, bootstrapped_at=datetime.now(UTC),
            applied_at=datetime.now(UTC), notified_release=release, last_error=None,
            last_error_at=None, stage=None)
    result.bootstrapped = True
    log.info("bootstrapped at release %d (seq %d): %d records", release, seq,
             sum(v["versions"] + v["links"] for v in counted.values()))
    client._notify(ReleaseChanges(release=release, seq=seq, bootstrap=True, counts=counted))



def _apply_snapshot_page(client: SyncClient, conn: Connection, header: dict[str, Any],
                         body: bytes, where: str, counted: dict[str, dict[str, int]]) -> int:
    """Write one snapshot page; return how many versions and links it held."""
    schemas = [tuple(keys) for keys in header.get("schemas", [])]
    if "copy" in header:
        return _stage_copy_lines(client, conn, header, body, where, counted)
    if client.store.dialect in ("sqlite", "postgresql") and SNAPSHOT_VERSION_KEYS in schemas:
        return _stage_page_lines(client, conn, header, body, where, schemas, counted)
    return _apply_snapshot_records(client, conn, header, body, where, counted)



def _apply_snapshot_records(client: SyncClient, conn: Connection, header: dict[str, Any],
                            body: bytes, where: str, counted: dict[str, dict[str, int]]) -> int:
    """Write snapshot records through Python, into the typed stage tables."""
    schemas, rows = decode_rows(header, body, where)
    groups: dict[int, list[list[Any]]] = {}
    for values in rows:
        groups.setdefault(values[0], []).append(values)
    batch = Batch()
    links: list[dict[str, Any]] = []
    n = 0
    for index, group in groups.items():
        keys = schemas[index]
        if "t" not in keys:
            raise FeedIntegrityError(f"{where}: a snapshot record without a type")
        at = {key: i + 1 for i, key in enumerate(keys)}
        kinds = {values[at["t"]] for values in group}
        fields = [k if k in at else "attributes_json" if k == "attributes" else k
                  for k in BULK_FIELDS]
        if kinds == {"version"} and all(k in at for k in fields):
            # The fast path: straight from the page's value lists to insert parameters;
            # the attributes arrive as JSON text and are stored as they are.
            pick = itemgetter(*(at[k] for k in fields))
            if fields[11] == "attributes_json":
                bulk = list(map(pick, group))
            else:
                bulk = [(*row[:11], json.dumps(row[11] or {}), *row[12:])
                        for row in map(pick, group)]
            for list_key, number in Counter(row[0] for row in bulk).items():
                counted.setdefault(list_key, {"versions": 0, "links": 0})[
                    "versions"] += number
            client.store.bulk_versions(conn, bulk, stage_versions)
            n += len(bulk)
            continue
        for values in group:
            record = from_wire(dict(zip(keys, values[1:], strict=True)))
            kind = record["t"]
            if kind == "version":
                client.store.bulk_versions(conn, [version_params(record)], stage_versions)
                counted.setdefault(record["list"], {"versions": 0, "links": 0})[
                    "versions"] += 1
                n += 1
            elif kind == "link":
                links.append(link_row(record))
                counted.setdefault(record["list"], {"versions": 0, "links": 0})[
                    "links"] += 1
                n += 1
            elif kind == "list":
                batch.code_list(list_row(record))
                counted.setdefault(record["key"], {"versions": 0, "links": 0})
            else:
                raise FeedIntegrityError(f"{where}: unknown snapshot record type {kind!r}")
    client.store.insert_rows(conn, stage_lists, list(batch.lists.values()))
    client.store.insert_rows(conn, stage_lineage, links)
    return n



def _count_runs(keys_of: Callable[[], list[Any]], first: Any, last: Any,
                counted: dict[str, dict[str, int]], total: int) -> None:
    """Count a page's versions per list. A page holds one list, or the end of one and the
    start of the next: the ends decide whether each line has to be looked at."""
    keys = [first] * total if first == last else keys_of()
    for list_key, number in Counter(keys).items():
        counted.setdefault(list_key, {"versions": 0, "links": 0})["versions"] += number


def _split_lines(header: dict[str, Any], body: bytes, where: str) -> list[bytes]:
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != header.get("count"):
        raise FeedIntegrityError(f"{where}: {len(lines)} lines where the header announces "
                                 f"{header.get('count')}; nothing was applied")
    return lines


def _stage_copy_lines(client: SyncClient, conn: Connection, header: dict[str, Any],
                      body: bytes, where: str, counted: dict[str, dict[str, int]]) -> int:
    """PostgreSQL: the page's COPY text lines go to the stage as they came, in one COPY;
    the other records (JSON lines, which start with ``[``) are parsed as usual."""
    if client.store.dialect != "postgresql":
        raise FeedIntegrityError(f"{where}: COPY text lines were sent to a replica that "
                                 "did not ask for them; nothing was applied")
    if header["copy"] != list(COPY_VERSION_COLUMNS):
        raise FeedIntegrityError(f"{where}: the COPY lines have the columns "
                                 f"{header['copy']!r}, not the ones this client knows "
                                 f"({', '.join(COPY_VERSION_COLUMNS)}); nothing was applied")
    def key(line: bytes) -> str:
        return line.split(b"\t", 1)[0].decode("utf-8", "replace")

    if body and not body.startswith(b"[") and b"\n[" not in body:
        # Only COPY lines (a whole page of versions, the common case): passed on as they
        # came, without splitting the page into lines and joining them again.
        if not body.endswith(b"\n"):
            body += b"\n"
        count = body.count(b"\n")
        if count != header.get("count"):
            raise FeedIntegrityError(f"{where}: {count} lines where the header announces "
                                     f"{header.get('count')}; nothing was applied")
        first, last = body[:body.find(b"\n")], body[body.rfind(b"\n", 0, -1) + 1:-1]
        _count_runs(lambda: list(map(key, body[:-1].split(b"\n"))), key(first), key(last),
                    counted, count)
        client.store.stage_copy(conn, body, count, where)
        return count
    lines = _split_lines(header, body, where)
    copied = [line for line in lines if not line.startswith(b"[")]
    others = [line for line in lines if line.startswith(b"[")]
    if copied:
        _count_runs(lambda: list(map(key, copied)), key(copied[0]), key(copied[-1]), counted,
                    len(copied))
        client.store.stage_copy(conn, b"\n".join(copied) + b"\n", len(copied), where)
    n = len(copied)
    if others:
        rest = dict(header, count=len(others))
        n += _apply_snapshot_records(client, conn, rest, b"\n".join(others) + b"\n", where,
                                     counted)
    return n


def _stage_page_lines(client: SyncClient, conn: Connection, header: dict[str, Any],
                      body: bytes, where: str, schemas: list[tuple[str, ...]],
                      counted: dict[str, dict[str, int]]) -> int:
    """SQLite and PostgreSQL: stage the page's version lines as they are (see
    ``stage_lines``); parse only the other records, and the ends of each run of
    versions to count them."""
    lines = _split_lines(header, body, where)
    prefix = f"[{schemas.index(SNAPSHOT_VERSION_KEYS)},".encode()
    staged = [line for line in lines if line.startswith(prefix)]
    others = [line for line in lines if not line.startswith(prefix)]
    n = 0
    if staged:
        at = SNAPSHOT_VERSION_KEYS.index("list") + 1
        try:
            _count_runs(lambda: [json.loads(line)[at] for line in staged],
                        json.loads(staged[0])[at], json.loads(staged[-1])[at], counted,
                        len(staged))
        except (ValueError, IndexError, TypeError):
            raise FeedIntegrityError(f"{where}: a version line is not valid JSON; "
                                     "nothing was applied") from None
        client.store.stage_lines(conn, [line.decode("utf-8") for line in staged])
        n += len(staged)
    if others:
        rest = dict(header, count=len(others))
        n += _apply_snapshot_records(client, conn, rest, b"\n".join(others) + b"\n", where,
                                          counted)
    return n
