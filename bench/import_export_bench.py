"""Import, export and demo benchmarks. Run: ``python bench/import_export_bench.py``.

On SQLite (a temporary file) and on PostgreSQL (a fresh database on ``--pg``), each figure
beside a baseline measured in the same run on the same data:

* ``registry demo`` up to serving: migrate an empty database and load the bundled data
  (43 change sets, 15,189 operations) vs. a plain executemany INSERT of one row per
  operation;
* export every list to CSV (the largest is admin units before the reform, 10,040 rows in
  the GSO layout) vs. the ``csv`` module writing the same rows from memory;
* import that 10,040-row export into an empty registry: read the file, dry run, publish
  (10,794 creates) vs. the ``csv`` module parsing it plus a plain INSERT of its rows;
* import it again into the loaded registry (no change: the round trip).

Targets from the issue: import < 10 s, export < 2 s, demo < 60 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pgtools import drop_pg, fresh_pg

from registry.db import make_engine, session_factory, transaction
from registry.exporters.export import export_list
from registry.importers.bundled_load import load_bundled_data, read_bundle
from registry.importers.gso import parse_table
from registry.importers.gso_import import plan_gso_import
from registry.importers.plans import commit_import, dry_run, refuse_bad_rows
from registry.importers.tabular import read_table
from registry.migrate import upgrade
from registry.services import code_lists
from registry.services.actors import SYSTEM
from registry.services.change_sets import LegalBasis

BASIS = LegalBasis("124/2004/QĐ-TTg", date(2004, 7, 8), "Thủ tướng Chính phủ")
BEFORE = date(2025, 6, 30)
TARGETS = {"demo": 60.0, "export": 2.0, "import": 10.0}


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def plain_insert(engine: Engine, rows: list[tuple[str, str, str]]) -> float:
    """A scratch table and one executemany INSERT of ``rows``: the floor of any write."""
    table = f"bench_plain_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (code VARCHAR(64), name TEXT, kind TEXT)"))
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} (code, name, kind) VALUES (:c, :n, :k)"),
                     [{"c": c, "n": n, "k": k} for c, n, k in rows])
    elapsed = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    return elapsed


def bench_demo(url: str) -> tuple[float, float]:
    """Migrate and load the bundle; baseline: insert one plain row per operation."""
    engine = make_engine(url)
    elapsed, _ = timed(lambda: (upgrade(engine), load_bundled_data(engine)))
    bundle = read_bundle()
    rows = [(str(op.get("code") or op.get("source") or ""), item.title[:40], op["op"])
            for item in bundle.change_sets for op in item.operations]
    # The reform is planned from the conversion table at load time: one row per table row.
    rows += [(str(n), item.title[:40], "merge") for item in bundle.change_sets
             if item.planner is not None for n in range(item.size)]
    baseline = plain_insert(engine, rows)
    engine.dispose()
    return elapsed, baseline


def bench_export(url: str) -> tuple[dict[str, float], float, bytes]:
    """Every list to CSV; baseline: the csv module writing the largest table's rows."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    figures: dict[str, float] = {}
    largest = b""
    with transaction(sessions) as session:
        keys = [c.key for c in code_lists.all_lists(session)]
    for key in keys:
        with transaction(sessions) as session:
            elapsed, result = timed(lambda k=key: export_list(session, k, "csv", BEFORE))
        figures[key] = elapsed
        if len(result.data) > len(largest):
            largest = result.data
    engine.dispose()
    rows = list(csv.reader(io.StringIO(largest.decode("utf-8"))))

    def write() -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        buffer.getvalue().encode("utf-8")

    baseline, _ = timed(write)
    return figures, baseline, largest


def import_file(url: str, data: bytes, effective: date) -> tuple[float, float, int]:
    """Read, dry run, publish; return (dry-run seconds, total seconds, operations)."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    start = time.perf_counter()
    with transaction(sessions) as session:
        parsed = parse_table(read_table(data, "export.csv"))
        plan = plan_gso_import(session, parsed, effective)
        refuse_bad_rows(plan, False)
        problems = dry_run(session, plan).errors
        assert not problems, problems[:3]
    dry = time.perf_counter() - start
    if plan.operations:
        with transaction(sessions) as session:
            commit_import(session, SYSTEM, plan, "bench import", BASIS, publish=True)
    total = time.perf_counter() - start
    engine.dispose()
    return dry, total, len(plan.operations)


def import_baseline(url: str, data: bytes) -> float:
    """The csv module parsing the file plus a plain INSERT of one row per row."""
    engine = make_engine(url)
    start = time.perf_counter()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))[1:]
    parse = time.perf_counter() - start
    insert = plain_insert(engine, [(r[5] or r[3], r[4] or r[2], r[6]) for r in rows])
    engine.dispose()
    return parse + insert


def run_backend(label: str, make_url: Callable[[], str],
                drop: Callable[[str], None]) -> list[tuple[str, float, float, float]]:
    """All scenarios on one backend: (scenario, seconds, baseline, target)."""
    out: list[tuple[str, float, float, float]] = []
    loaded = make_url()
    empty = make_url()
    try:
        demo, demo_base = bench_demo(loaded)
        out.append((f"{label}: demo (migrate + load 43 change sets; reform from the table)",
                    demo, demo_base,
                    TARGETS["demo"]))
        exports, export_base, data = bench_export(loaded)
        worst = max(exports, key=lambda k: exports[k])
        out.append((f"{label}: export {worst} to CSV (slowest of {len(exports)} lists)",
                    exports[worst], export_base, TARGETS["export"]))
        rows = data.count(b"\n") - 1
        engine = make_engine(empty)
        upgrade(engine)
        engine.dispose()
        dry, total, ops = import_file(empty, data, date(2025, 1, 1))
        base = import_baseline(empty, data)
        out.append((f"{label}: import {rows}-row export, dry run ({ops} operations)", dry,
                    base, TARGETS["import"]))
        out.append((f"{label}: import {rows}-row export, dry run + publish", total, base,
                    TARGETS["import"]))
        dry, total, ops = import_file(loaded, data, BEFORE)
        out.append((f"{label}: re-import the export, round trip ({ops} operations)", total,
                    base, TARGETS["import"]))
    finally:
        drop(loaded)
        drop(empty)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (a database is created and dropped)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results: list[tuple[str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if "sqlite" in args.backends:
            results += run_backend(
                "SQLite", lambda: f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db",
                lambda url: None)
        if "postgresql" in args.backends:
            results += run_backend("PostgreSQL", lambda: fresh_pg(args.pg),
                                   lambda url: drop_pg(args.pg, url))
    width = max(len(r[0]) for r in results)
    print(f"{'scenario':<{width}}  {'seconds':>8}  {'baseline':>8}  {'ratio':>6}  target")
    for name, seconds, baseline, target in results:
        verdict = "ok" if seconds < target else "OVER"
        print(f"{name:<{width}}  {seconds:8.2f}  {baseline:8.3f}  {seconds / baseline:6.0f}x"
              f"  < {target:g} s {verdict}")
    print("baselines: demo = plain INSERT of one row per operation; export = csv module "
          "writing the same rows from memory; import = csv module parse + plain INSERT of "
          "the file's rows")


if __name__ == "__main__":
    main()
