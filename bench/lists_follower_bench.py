"""Bytes a replica of some lists downloads to follow the centre, against its lists' share.

The centre is a SQLite file served by the sync app (one uvicorn worker, as ``registry
serve`` runs it) holding the bundled data up to the 2025-01-01 baseline of the
administrative units (the first five change sets). Replicas bootstrap there: one of every
list (the baseline: it follows the hash-chained change pages, as every replica of some
lists did before deltas) and one per list for the lists that change later. The rest of the
bundle is then published (the agencies' three change sets, the 34 provinces' 2025 reform,
the procedures: 38 releases) and every replica pulls it, counting the bytes on the wire
(gzipped, headers excluded).

A list's *share* is its records' part of the released records, in bytes of canonical JSON
(release markers belong to no list). The figure is

    bytes of the list's replica ÷ (bytes of the full replica × the list's share)

with a target of at most 1.2. Every replica is verified against the centre's checksums at
the end.

    python bench/lists_follower_bench.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from sync_bench import free_port, start_server

from registry.db import make_engine
from registry.importers.bundled_load import load_bundled_data, read_bundle
from registry.migrate import upgrade
from registry.models import FeedRecord
from registry.services import bundled
from registry.sync.client import SyncClient
from registry.sync.protocol import parse_subscription

BOOTSTRAP_AT = 5  # change sets published before the replicas bootstrap
LISTS = ("admin-units", "agencies", "procedures")
TARGET = 1.2


def shares(url: str, after_release: int) -> tuple[Counter[str], int, int]:
    """Bytes of canonical JSON per list in the releases after ``after_release``, their
    total (markers included) and the number of records."""
    engine = make_engine(url)
    per_list: Counter[str] = Counter()
    total = count = 0
    with engine.connect() as conn:
        for text in conn.scalars(select(FeedRecord.record)
                                 .where(FeedRecord.release_id > after_release)):
            size = len(text.encode("utf-8"))
            record = json.loads(text)
            key = record.get("key") if record.get("t") == "list" else record.get("list")
            if key is not None:
                per_list[str(key)] += size
            total += size
            count += 1
    engine.dispose()
    return per_list, total, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="keep the databases in this directory")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="lists-follower-"))
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{work / 'centre.db'}"
    engine = make_engine(url)
    upgrade(engine)
    whole = read_bundle()
    early = bundled.Bundle(whole.definitions, whole.change_sets[:BOOTSTRAP_AT])
    load_bundled_data(engine, bundle=early)
    port = free_port()
    server = start_server(url, port)
    base = f"http://127.0.0.1:{port}"
    clients: dict[str, SyncClient] = {}
    try:
        for name in ("every list", *LISTS):
            sub = parse_subscription(None if name == "every list" else name, None)
            into = f"sqlite:///{work / (name.replace(' ', '-') + '.db')}"
            if os.path.exists(into.removeprefix("sqlite:///")):
                os.remove(into.removeprefix("sqlite:///"))
            clients[name] = SyncClient(base, into, subscription=sub)
            clients[name].pull()
        start_release = clients["every list"].store.state().release
        started = time.perf_counter()
        report = load_bundled_data(engine)
        print(f"published {len(report.published)} change sets "
              f"({report.operations} operations) in {time.perf_counter() - started:.1f} s "
              f"after release {start_release}")
        per_list, total, count = shares(url, start_release)
        print(f"released records: {count:,}, {total:,} bytes of canonical JSON")
        figures: dict[str, tuple[int, float, int]] = {}
        for name, client in clients.items():
            client.transport.bytes_received = 0
            started = time.perf_counter()
            pulled = client.pull()
            seconds = time.perf_counter() - started
            verified = client.verify()
            if not verified.ok:
                raise SystemExit(f"{name}: the replica does not match the centre")
            figures[name] = (client.transport.bytes_received, seconds, pulled.releases)
        full_bytes = figures["every list"][0]
        print()
        print("| replica | share of the records' bytes | bytes on the wire | "
              "full replica × share | ratio (target ≤ 1.2) | before: chain pages ÷ "
              "share | pull time | releases |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, (received, seconds, releases) in figures.items():
            share = 1.0 if name == "every list" else per_list[name] / total
            expected = full_bytes * share
            ratio = received / expected if expected else float("inf")
            before = 1 / share if share else float("inf")
            print(f"| {name} | {share:.2%} | {received:,} | {expected:,.0f} | {ratio:.2f} | "
                  f"{before:.1f} | {seconds:.2f} s | {releases} |")
        worst = max(figures[name][0] / (full_bytes * per_list[name] / total)
                    for name in LISTS)
        print(f"\nworst ratio {worst:.2f} (target ≤ {TARGET}): "
              f"{'met' if worst <= TARGET else 'not met'}")
    finally:
        for client in clients.values():
            client.close()
        server.terminate()
        server.wait(30)
        engine.dispose()


if __name__ == "__main__":
    main()
