"""Bytes a replica of some lists downloads to follow the centre, against its lists' share.

Two scenarios, each on its own SQLite centre served by the sync app (one uvicorn worker, as
``registry serve`` runs it) holding the bundled data up to the 2025-01-01 baseline of the
administrative units (the first five change sets). Replicas bootstrap there: one of every
list (the baseline: it follows the hash-chained change pages, which is what every replica
of some lists downloaded before deltas) and one per list. Then the centre publishes

- *bundle*: the rest of the bundle (the agencies' three change sets, the 34 provinces'
  2025 reform, the procedures: 38 releases; agencies and procedures are tiny there);
- *mixed*: releases that each change the three lists (100 communes renamed, 50 agencies,
  100 procedures created),

and every replica pulls, counting the bytes on the wire (gzipped, HTTP headers excluded).

A list's *share* is its records' part of the released records, in bytes of canonical JSON
(release markers belong to no list). The figure is

    bytes of the list's replica ÷ (bytes of the full replica × the list's share)

with a target of at most 1.2. Every replica is verified against the centre's checksums at
the end.

    python bench/lists_follower_bench.py [--releases 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, select
from sync_bench import free_port, start_server

from registry.db import make_engine, session_factory, transaction
from registry.importers.bundled_load import load_bundled_data, read_bundle
from registry.migrate import upgrade
from registry.models import CodeList, Entry, FeedRecord
from registry.services import bundled
from registry.sync.client import SyncClient
from registry.sync.protocol import parse_subscription
from tests.factories import publish

BOOTSTRAP_AT = 5  # change sets published before the replicas bootstrap
LISTS = ("admin-units", "agencies", "procedures")
TARGET = 1.2


def shares(url: str, after_release: int) -> tuple[Counter[str], int, int, dict[str, int]]:
    """Bytes of canonical JSON per list in the releases after ``after_release``, their
    total (markers included), the number of records, and per list its records alone
    gzipped (what no framing can go below: a small list compresses far less than the
    whole feed does, so its share of the full replica's gzipped bytes is not reachable)."""
    engine = make_engine(url)
    per_list: Counter[str] = Counter()
    texts: dict[str, list[str]] = {}
    total = count = 0
    with engine.connect() as conn:
        for text in conn.scalars(select(FeedRecord.record)
                                 .where(FeedRecord.release_id > after_release)):
            size = len(text.encode("utf-8"))
            record = json.loads(text)
            key = record.get("key") if record.get("t") == "list" else record.get("list")
            if key is not None:
                per_list[str(key)] += size
                texts.setdefault(str(key), []).append(text)
            total += size
            count += 1
    engine.dispose()
    alone = {key: len(gzip.compress("\n".join(found).encode("utf-8")))
             for key, found in texts.items()}
    return per_list, total, count, alone


def mixed_releases(url: str, releases: int) -> Callable[[Engine], str]:
    """Releases that change three lists together: in each, 100 communes renamed, 50
    ministries created and 100 procedures created."""
    def publish_them(engine: Engine) -> str:
        sessions = session_factory(engine)
        with sessions() as session:
            communes = list(session.scalars(
                select(Entry.code).join(CodeList, CodeList.id == Entry.list_id)
                .where(CodeList.key == "admin-units", func.length(Entry.code) == 5)
                .order_by(Entry.code).limit(100 * releases)))
        sample = read_bundle().change_sets[-1].operations[0]
        for n in range(releases):
            ops: list[dict[str, Any]] = [
                {"op": "rename", "list": "admin-units", "code": code, "name": f"Xã Mới {n}-{i}"}
                for i, code in enumerate(communes[100 * n:100 * (n + 1)])]
            ops += [{"op": "create", "list": "agencies",
                     "code": f"000.00.00.{chr(65 + (50 * n + i) // 100)}{(50 * n + i) % 100:02d}",
                     "name": f"Cơ quan thử nghiệm {n}-{i}", "type": "Bộ"} for i in range(50)]
            agency = ops[-1]["code"]  # created just above, in the same release
            ops += [{**sample, "code": f"2.{100 * n + i:06d}", "name": f"Thủ tục thử {n}-{i}",
                     "attributes": {**sample["attributes"], "competent_agency": agency,
                                    "implementing_agencies": [agency]}}
                    for i in range(100)]
            with transaction(sessions) as session:
                publish(session, ops, f"2025-03-{n % 28 + 1:02d}", f"mixed release {n}")
        return f"{releases} mixed releases (each 100 renames, 50 agencies, 100 procedures)"
    return publish_them


def whole_bundle(engine: Engine) -> str:
    """The rest of the bundle: the agencies' three change sets, the 34 provinces' reform
    and the procedures (38 releases)."""
    report = load_bundled_data(engine)
    return f"the rest of the bundle: {len(report.published)} change sets " \
           f"({report.operations} operations)"


def scenario(work: Path, name: str, publish_rest: Callable[[Engine], str]) -> float:
    """Bootstrap the replicas, publish, pull; print the table; return the worst ratio."""
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db*"):
        old.unlink()
    url = f"sqlite:///{folder / 'centre.db'}"
    engine = make_engine(url)
    upgrade(engine)
    whole = read_bundle()
    load_bundled_data(engine, bundle=bundled.Bundle(whole.definitions,
                                                    whole.change_sets[:BOOTSTRAP_AT]))
    port = free_port()
    server = start_server(url, port)
    base = f"http://127.0.0.1:{port}"
    clients: dict[str, SyncClient] = {}
    try:
        for replica in ("every list", *LISTS):
            sub = parse_subscription(None if replica == "every list" else replica, None)
            into = f"sqlite:///{folder / (replica.replace(' ', '-') + '.db')}"
            clients[replica] = SyncClient(base, into, subscription=sub)
            clients[replica].pull()
        start_release = clients["every list"].store.state().release
        started = time.perf_counter()
        what = publish_rest(engine)
        print(f"\n## {name}: {what}, published in {time.perf_counter() - started:.1f} s "
              f"after release {start_release}")
        per_list, total, count, alone = shares(url, start_release)
        print(f"released records: {count:,}, {total:,} bytes of canonical JSON")
        figures: dict[str, tuple[int, float, int]] = {}
        for replica, client in clients.items():
            client.transport.bytes_received = 0
            started = time.perf_counter()
            pulled = client.pull()
            seconds = time.perf_counter() - started
            # What following cost; the proof below downloads the centre's checksums too,
            # which a follower does not need to follow.
            received = client.transport.bytes_received
            if not client.verify().ok:
                raise SystemExit(f"{replica}: the replica does not match the centre")
            figures[replica] = (received, seconds, pulled.releases)
        full_bytes = figures["every list"][0]
        print()
        print("| replica | share of the records' bytes | bytes on the wire | full replica × "
              "share | ratio (target ≤ 1.2) | before (chain pages) ÷ share | the list's "
              "records alone, gzipped | ÷ those | pull time | releases applied |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        worst = 0.0
        for replica, (received, seconds, releases) in figures.items():
            share = 1.0 if replica == "every list" else per_list[replica] / total
            expected = full_bytes * share
            ratio = received / expected if expected else float("inf")
            if replica != "every list":
                worst = max(worst, ratio)
            floor = alone.get(replica, 0) if replica != "every list" else 0
            over = f"{received / floor:.2f}" if floor else "—"
            floor_text = f"{floor:,}" if floor else "—"
            print(f"| {replica} | {share:.2%} | {received:,} | {expected:,.0f} | {ratio:.2f} | "
                  f"{1 / share if share else float('inf'):.1f} | {floor_text} | {over} | "
                  f"{seconds:.2f} s | {releases} |")
        print(f"\nworst ratio {worst:.2f} (target ≤ {TARGET}): "
              f"{'met' if worst <= TARGET else 'not met'}")
        return worst
    finally:
        for client in clients.values():
            client.close()
        server.terminate()
        server.wait(30)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="keep the databases in this directory")
    parser.add_argument("--releases", type=int, default=20,
                        help="mixed releases in the second scenario (default 20)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="lists-follower-"))
    scenario(work, "bundle", whole_bundle)
    scenario(work, "mixed", mixed_releases(str(work), args.releases))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
