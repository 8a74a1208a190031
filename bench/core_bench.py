"""Core benchmarks (issue: registry core). Run: ``python bench/core_bench.py [--quick]``.

Measures on a fresh PostgreSQL database (``--pg``, default the local server), each figure
beside a baseline measured in the same run:

* publish a change set of 10,000 creates (validate + write + feed) vs. a plain executemany
  INSERT of the same rows;
* publish a 10,000-operation reorganisation (merges and splits);
* publish 100,000 creates, with the peak memory of the publishing process;
* ``get_entry`` "as of" among 1,000,000 entry versions vs. a primary-key SELECT;
* accent-insensitive search, first page, over 100,000 entries vs. an exact-name SELECT.

Scenarios that need their own peak memory run in a child process.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pgtools import drop_pg, fresh_pg

from registry.db import make_engine, session_factory, transaction
from registry.migrate import upgrade
from registry.services import change_sets, code_lists, queries
from registry.services.actors import SYSTEM
from registry.services.change_sets import LegalBasis

BASIS = LegalBasis("BENCH/2025", date(2025, 1, 1), "Benchmark")
SYLLABLES = ["Hà", "Nội", "Đông", "Tây", "Nam", "Bắc", "Phú", "Mỹ", "Tân", "An", "Bình",
             "Hòa", "Thạnh", "Long", "Sơn", "Thủy", "Trung", "Quang", "Đức", "Vĩnh"]


def name_for(i: int, prefix: str = "Xã") -> str:
    a, b, c = SYLLABLES[i % 20], SYLLABLES[(i // 20) % 20], SYLLABLES[(i // 400) % 20]
    return f"{prefix} {a} {b} {c} {i}"


def publish(url: str, ops: list[dict[str, Any]], effective: str) -> float:
    engine = make_engine(url)
    sessions = session_factory(engine)
    start = time.perf_counter()
    with transaction(sessions) as session:
        cs = change_sets.create_change_set(session, SYSTEM, "bench", BASIS,
                                           date.fromisoformat(effective))
        change_sets.add_operations(session, SYSTEM, cs.id, ops)
        change_sets.publish_direct(session, SYSTEM, cs.id)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


# 100,000 units need six-digit codes: a list defined as data, like any steward's list.
BENCH_LIST = {
    "key": "bench-units", "name": "Đơn vị (đo hiệu năng)", "code_pattern": "^\\d{2}(\\d{4})?$",
    "levels": [
        {"key": "province", "types": ["Tỉnh"], "parents": [], "code_pattern": "^\\d{2}$"},
        {"key": "unit", "types": ["Xã"], "parents": ["province"], "code_pattern": "^\\d{6}$"},
    ],
}


def define_bench_list(url: str) -> None:
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        code_lists.define_lists(session, SYSTEM, [BENCH_LIST])
    engine.dispose()


def province_ops(n_provinces: int, list_key: str = "admin-units") -> list[dict[str, Any]]:
    return [{"op": "create", "list": list_key, "code": f"{p:02d}",
             "name": f"Tỉnh {SYLLABLES[p % 20]} {p}", "type": "Tỉnh"}
            for p in range(1, n_provinces + 1)]


def commune_ops(start: int, count: int, provinces: int,
                list_key: str = "admin-units") -> list[dict[str, Any]]:
    width = 5 if list_key == "admin-units" else 6
    return [{"op": "create", "list": list_key, "code": f"{i:0{width}d}", "name": name_for(i),
             "type": "Xã", "parent": f"{(i % provinces) + 1:02d}"}
            for i in range(start, start + count)]


def baseline_insert(url: str, count: int) -> float:
    engine = make_engine(url)
    rows = [{"code": f"{i:05d}", "name": name_for(i), "parent": f"{i % 60 + 1:02d}"}
            for i in range(count)]
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_plain "
                          "(code varchar(8), name text, parent varchar(8))"))
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_plain (code, name, parent) "
                          "VALUES (:code, :name, :parent)"), rows)
    elapsed = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_plain"))
    engine.dispose()
    return elapsed


def child(args: argparse.Namespace) -> None:
    """Run one scenario in this process and print its figures as JSON."""
    if args.child == "creates":
        define_bench_list(args.url)
        elapsed = publish(args.url, [*province_ops(60, "bench-units"),
                                     *commune_ops(1, args.count, 60, "bench-units")],
                          "2025-01-01")
    else:
        raise SystemExit(f"unknown scenario {args.child}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb}))


def run_child(url: str, scenario: str, count: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", scenario, "--url", url,
                          "--count", str(count)], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def reorganize_ops(communes: int) -> list[dict[str, Any]]:
    """Merges of 3 into 1 (keeping the first code) and splits of 1 into 2 (keeping it)."""
    ops: list[dict[str, Any]] = []
    next_code = 60000
    i = 1
    while len(ops) < 10_000 and i + 3 <= communes:
        if len(ops) % 2 == 0:
            sources = [f"{i:05d}", f"{i + 1:05d}", f"{i + 2:05d}"]
            parent = f"{(i % 60) + 1:02d}"
            ops.append({"op": "merge", "list": "admin-units", "sources": sources,
                        "target": {"code": sources[0], "name": name_for(i, "Phường"),
                                   "type": "Phường", "parent": parent}})
            i += 3
        else:
            parent = f"{(i % 60) + 1:02d}"
            ops.append({"op": "split", "list": "admin-units", "source": f"{i:05d}", "targets": [
                {"code": f"{i:05d}", "name": name_for(i), "type": "Xã", "parent": parent,
                 "default": True, "share": 0.6},
                {"code": f"{next_code:05d}", "name": name_for(next_code), "type": "Xã",
                 "parent": parent, "share": 0.4}]})
            next_code += 1
            i += 1
    return ops


def timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def load_million_versions(url: str) -> None:
    """1,000,000 entry versions in bulk SQL: 200,000 entries with 5 consecutive versions."""
    engine = make_engine(url)
    with engine.begin() as conn:
        list_id = conn.execute(text("SELECT id FROM code_lists WHERE key='admin-units'")).scalar()
        release, change_set = conn.execute(text(
            "SELECT id, change_set_id FROM releases WHERE change_set_id IS NOT NULL "
            "ORDER BY id DESC LIMIT 1")).one()
        conn.execute(text(
            "INSERT INTO entries (id, list_id, code, created_release) "
            "SELECT 1000000 + g, :l, 'M' || lpad(g::text, 6, '0'), :r "
            "FROM generate_series(1, 200000) g"), {"l": list_id, "r": release})
        conn.execute(text(
            "INSERT INTO entry_versions (entry_id, list_id, code, valid_from, valid_to, "
            "recorded_release, change_set_id, status, name, type, level, parent_code, "
            "attributes, search_key) "
            "SELECT 1000000 + g, :l, 'M' || lpad(g::text, 6, '0'), "
            "date '2020-01-01' + (v * 365), "
            "CASE WHEN v = 4 THEN NULL ELSE date '2020-01-01' + ((v + 1) * 365) END, "
            ":r, :c, 'active', 'Xã Mẫu ' || g || ' v' || v, 'Xã', 'commune', NULL, '{}', "
            "'xa mau ' || g || ' v' || v "
            "FROM generate_series(1, 200000) g, generate_series(0, 4) v"),
            {"l": list_id, "r": release, "c": change_set})
        conn.execute(text("ANALYZE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")
    parser.add_argument("--quick", action="store_true", help="Smaller sizes, for a smoke run.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    scale = 10 if args.quick else 1
    rows: list[tuple[str, str, str, str, str]] = []

    def report(name: str, ours: float, base: float, unit: str, target: str) -> None:
        ratio = ours / base if base else float("nan")
        rows.append((name, f"{ours:.3f} {unit}", f"{base:.3f} {unit}", f"{ratio:.1f}×", target))
        print(f"  {name}: {ours:.3f} {unit} (baseline {base:.3f} {unit}, {ratio:.1f}×)",
              flush=True)

    urls = []
    try:
        # 1. 10,000 creates
        url = fresh_pg(args.pg)
        urls.append(url)
        upgrade(make_engine(url))
        n = 10_000 // scale
        publish(url, province_ops(60), "2025-01-01")
        ours = publish(url, commune_ops(1, n, 60), "2025-01-01")
        report(f"publish {n:,} creates", ours, baseline_insert(url, n), "s", "< 3 s")
        # 2. 10,000-operation reorganisation on those communes plus more
        publish(url, commune_ops(n + 1, 2 * n, 60), "2025-01-01")
        ops = reorganize_ops(3 * n)
        ours = publish(url, ops, "2025-07-01")
        report(f"publish reorganisation of {len(ops):,} merges/splits", ours,
               baseline_insert(url, len(ops) * 3), "s", "< 5 s")
        # 3. 100,000 creates, in a child for its own peak memory
        url3 = fresh_pg(args.pg)
        urls.append(url3)
        upgrade(make_engine(url3))
        n3 = 100_000 // scale
        figures = run_child(url3, "creates", n3)
        report(f"publish {n3:,} creates", figures["seconds"], baseline_insert(url3, n3), "s",
               "< 30 s")
        rows.append(("  peak memory of that process", f"{figures['peak_mb']:.0f} MB", "", "",
                     "< 500 MB"))
        print(f"  peak memory: {figures['peak_mb']:.0f} MB", flush=True)
        # 5. search over those 100,000 entries
        engine = make_engine(url3)
        sessions = session_factory(engine)
        with sessions() as session:
            on = date(2025, 6, 1)
            for term in ("ha noi dong 10", "thanh long"):
                times = timed(lambda t=term: queries.list_entries(
                    session, "bench-units", search=t, as_of=on, first=50), 30)
                base = timed(lambda: session.execute(text(
                    "SELECT code, name FROM entry_versions WHERE name = 'Xã Hà Nội Đông 10' "
                    "LIMIT 50")).all(), 30)
                report(f"search '{term}' first page over {n3:,}",
                       statistics.median(times) * 1000, statistics.median(base) * 1000, "ms",
                       "< 20 ms")
        engine.dispose()
        # 4. as-of lookup among 1,000,000 versions
        load_million_versions(url3)
        engine = make_engine(url3)
        sessions = session_factory(engine)
        with sessions() as session:
            total = session.execute(text("SELECT count(*) FROM entry_versions")).scalar()
            codes = [f"M{(i * 7919) % 200000 + 1:06d}" for i in range(2000)]
            days = [date(2020 + (i % 6), 3, 1) for i in range(2000)]
            for code, day in zip(codes[:50], days[:50], strict=True):  # warm up
                queries.get_entry(session, "admin-units", code, day)
            times = []
            for code, day in zip(codes, days, strict=True):
                start = time.perf_counter()
                found = queries.get_entry(session, "admin-units", code, day)
                times.append(time.perf_counter() - start)
                assert found is not None
            ids = [int(x) for x in session.execute(text(
                "SELECT id FROM entry_versions ORDER BY random() LIMIT 2000")).scalars()]
            base = []
            for vid in ids:
                start = time.perf_counter()
                session.execute(text("SELECT * FROM entry_versions WHERE id = :i"),
                                {"i": vid}).first()
                base.append(time.perf_counter() - start)
            report(f"get_entry as-of among {total:,} versions (median)",
                   statistics.median(times) * 1000, statistics.median(base) * 1000, "ms",
                   "< 1 ms")
        engine.dispose()
    finally:
        for url in urls:
            drop_pg(args.pg, url)
    print("\n| benchmark | ours | baseline | ratio | target |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
