"""The two halves of applying a large release on a replica, each against its baseline in
one run (issue: sync at the speed of logical replication).

    python bench/replica_apply_bench.py [--versions N] [--release R] [--rounds K]

* **Checking and row building** (client CPU, no database): R canonical version records
  (half of them closing a version, half opening one, as renames do) in pages of 1,000 are
  decoded, chain-hashed and turned into insert parameters, as the client does. Baseline:
  the same with the standard library's ``json`` in place of orjson
  (``registry/sync/fast_json.py``). Process CPU, minimum and median of K rounds.
* **Checking and writing** (PostgreSQL): a replica table of N versions, built by the
  local schema in a scratch database on the machine's server; the release's pages checked
  and turned into rows as above, their versions written ahead in pieces through
  ``LocalStore.flush`` while the next pages are checked (what an open release does now:
  ``registry/sync/in_flight.py``) against all of them copied and upserted in one statement
  at the end (as before). Each round rolls back; the two alternate. Wall time, minimum and
  median.

Nothing is timed in the test suite: these machines are noisy, so compare within a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg

from registry.services.feed import GENESIS_HASH, canonical_json, chain_hash
from registry.sync import codec, local_store
from registry.sync.codec import decode_canonical
from registry.sync.local_store import Batch, LocalStore

LIST = "bench-items"


def version(code: int, valid_from: str, valid_to: str | None, name: str,
            seq: int) -> dict[str, Any]:
    """One version record as the feed carries it."""
    return {"t": "version", "format": 1, "seq": seq, "release": 2, "list": LIST,
            "code": f"{code:07d}", "valid_from": valid_from, "valid_to": valid_to,
            "status": "active", "name": name, "short_name": None, "name_en": None,
            "type": "Mục", "level": "item", "parent": None,
            "attributes": {"group": f"nhóm {code % 97}"}, "change_set": 2}


def release_records(count: int) -> list[dict[str, Any]]:
    """``count`` records of a release of renames from 2026-01-01."""
    out: list[dict[str, Any]] = []
    for n in range(count // 2):
        out.append(version(n, "2025-01-01", "2026-01-01", f"Mục thử nghiệm số {n}",
                           len(out) + 1))
        out.append(version(n, "2026-01-01", None, f"Mục đã đổi tên số {n}", len(out) + 1))
    return out


def pages_of(records: list[dict[str, Any]]) -> list[bytes]:
    """The records as bodies of canonical change pages of 1,000 lines."""
    texts = [canonical_json(r).encode() for r in records]
    return [b"".join(t + b"\n" for t in texts[i:i + 1000]) for i in range(0, len(texts), 1000)]


def check_and_build(pages: list[bytes]) -> int:
    """What the client does with each page before writing: decode, hash, make rows."""
    digest, rows = GENESIS_HASH, 0
    for body in pages:
        records, texts = decode_canonical({"count": body.count(b"\n")}, body, "bench")
        for text in texts:
            digest = chain_hash(digest, text)
        batch = Batch()
        for record in records:
            batch.version(record)
        rows += len(batch.versions)
    return rows


def with_stdlib_json() -> Callable[[], None]:
    """Swap orjson out for ``json`` where the client decodes pages and writes attributes
    (as the code was before); return the undo."""
    names = vars(codec), vars(local_store)  # the names each module imported
    saved = names[0]["load_records"], names[1]["attributes_text"]
    names[0]["load_records"] = lambda lines: json.loads(b"[" + b",".join(lines) + b"]")
    names[1]["attributes_text"] = json.dumps

    def undo() -> None:
        names[0]["load_records"], names[1]["attributes_text"] = saved
    return undo


def cpu_rounds(pages: list[bytes], rounds: int) -> dict[str, list[float]]:
    """Process CPU of checking and row building, orjson and json alternating."""
    times: dict[str, list[float]] = {"orjson": [], "json": []}
    for _ in range(rounds):
        for label in ("orjson", "json"):
            undo = with_stdlib_json() if label == "json" else None
            try:
                started = time.process_time()
                check_and_build(pages)
                times[label].append(time.process_time() - started)
            finally:
                if undo is not None:
                    undo()
    return times


def build_replica(url: str, versions: int) -> LocalStore:
    """A replica table of ``versions`` versions, one per code, valid from 2025-01-01."""
    store = LocalStore(url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO registry_versions (list_key, code, valid_from, valid_to, status, "
            "name, type, level, attributes, recorded_release, change_set) "
            f"SELECT '{LIST}', lpad(n::text, 7, '0'), DATE '2025-01-01', NULL, 'active', "
            "'Mục thử nghiệm số ' || n, 'Mục', 'item', "
            "json_build_object('group', 'nhóm ' || mod(n, 97)), 1, 1 "
            f"FROM generate_series(0, {versions - 1}) AS n")
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE registry_versions")
        conn.exec_driver_sql("CHECKPOINT")
    return store


def write_rounds(store: LocalStore, pages: list[bytes],
                 rounds: int) -> dict[str, list[float]]:
    """Wall time of checking and writing the release's pages as an open release does:
    written ahead in pieces while the next pages are checked, or all at the end."""
    times: dict[str, list[float]] = {"written ahead": [], "at the end": []}
    for _ in range(rounds):
        for label in times:
            store.write_ahead = ahead = label == "written ahead"
            with store.engine.connect() as conn:
                txn = conn.begin()
                batch = Batch()
                started = time.perf_counter()
                digest = GENESIS_HASH
                for body in pages:
                    records, texts = decode_canonical({"count": body.count(b"\n")}, body,
                                                      "bench")
                    for text in texts:
                        digest = chain_hash(digest, text)
                    for record in records:
                        batch.version(record)
                        if ahead and store.wants_flush(conn, batch):
                            store.flush(conn, batch, settle=False)
                store.flush(conn, batch)
                times[label].append(time.perf_counter() - started)
                renamed = conn.exec_driver_sql(
                    "SELECT count(*) FROM registry_versions "
                    "WHERE valid_from = DATE '2026-01-01'").scalar()
                assert renamed == len(pages) * 500, renamed
                txn.rollback()
    return times


def report(title: str, times: dict[str, list[float]], unit: str = "ms") -> None:
    """Minimum and median of each, and the ratio of the medians."""
    (new, a), (old, b) = times.items()
    print(f"{title}:")
    for label, values in times.items():
        print(f"  {label:>14}: min {min(values) * 1000:7.1f} {unit}, median "
              f"{statistics.median(values) * 1000:7.1f} {unit} "
              f"({', '.join(f'{v * 1000:.0f}' for v in values)})")
    print(f"  {new} ÷ {old}: {statistics.median(a) / statistics.median(b):.2f} (medians), "
          f"{min(a) / min(b):.2f} (minima)")


def main() -> None:
    """Run both halves and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=1_000_000,
                        help="versions in the replica table (default 1,000,000)")
    parser.add_argument("--release", type=int, default=14_000,
                        help="records in the release (default 14,000: 7,000 renames)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds of each (default 9)")
    parser.add_argument("--pg", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    records = release_records(args.release)
    pages = pages_of(records)
    report(f"checking and row building, {len(records):,} records in {len(pages)} pages "
           "(process CPU)", cpu_rounds(pages, args.rounds * 3))
    url = fresh_pg(args.pg)
    try:
        print(f"building a replica table of {args.versions:,} versions…", flush=True)
        store = build_replica(url, args.versions)
        try:
            report(f"checking and writing {len(records):,} versions into {args.versions:,} "
                   "(PostgreSQL, wall time)", write_rounds(store, pages, args.rounds))
        finally:
            store.close()
    finally:
        drop_pg(args.pg, url)


if __name__ == "__main__":
    main()
