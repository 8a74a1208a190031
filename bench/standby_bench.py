"""GraphQL with reads on a streaming standby vs on the primary, in one run.

    python bench/standby_bench.py [--duration 8] [--concurrency 1,4]

1. Starts a private PostgreSQL primary and a streaming hot standby of it on loopback
   (scripts/topology.py, no API nodes) and loads the GraphQL bench's data set (10,550
   administrative units, 1,000 agencies, 20,000 procedures, bench/graphql_data.py) into
   the primary; the standby replays it.
2. Starts two registry servers, one uvicorn worker each, response cache off: one reading
   from the primary, one with ``REGISTRY_READ_DATABASE_URLS`` naming the standby.
3. Drives both with the same three queries (bench/graphql_bench.py's) from another process,
   alternating, and prints requests/s, p50 and p99, the ratio, and how many transactions
   each database ran during each measurement (pg_stat_database): the primary's count is
   the load the standby takes off it.

On one machine the primary and the standby share its cores, so throughput cannot rise
with the standby here; what the run shows is the cost of routing (the ratio) and the
primary's work moving to the standby. On separate hosts the standby adds its own cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE), str(HERE.parent / "scripts")]

import graphql_data  # noqa: E402
import topology  # noqa: E402
from graphql_bench import RESOLVE, SEARCH, TERMS, UNIT, _drive, _free_port, _start, _warm  # noqa: E402
from sqlalchemy import text  # noqa: E402

from registry.db import make_engine  # noqa: E402


def transactions(cluster: Any) -> int:
    """Transactions the registry database of ``cluster`` has run so far."""
    return int(cluster.scalar("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                              f"WHERE datname = '{topology.DATABASE}'"))


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--concurrency", default="1,4", help="client connections, e.g. 1,4")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="registry-standby-bench-"))
    shutil.rmtree(root)
    processes = []
    try:
        print("starting a primary and a standby …", flush=True)
        cluster = topology.up(root, nodes=0, empty=True, broker=False, nginx=False, say=False)
        engine = make_engine(cluster.primary_url)
        print("loading the data set into the primary …", flush=True)
        graphql_data.load(engine, say=lambda _line: None)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # FREEZE as autovacuum would in time: a standby cannot set hint bits itself
            # (they are not logged), so rows fresh from a load cost it a commit-log lookup
            # each, every time, until the primary's vacuum replays.
            conn.execute(text("VACUUM (FREEZE, ANALYZE)"))
        engine.dispose()
        topology.wait_replayed(cluster, 120)
        primary, standby = cluster.primary(), cluster.standby()
        on_primary, on_standby = _free_port(), _free_port()
        processes.append(_start("registry.app:create_app", cluster.primary_url, on_primary))
        processes.append(_start("registry.app:create_app", cluster.primary_url, on_standby,
                                env={"REGISTRY_READ_DATABASE_URLS": cluster.standby_url}))
        districts = [graphql_data.district_code(p, d) for p in range(graphql_data.PROVINCES)
                     for d in range(graphql_data.DISTRICTS)]
        cases = [("administrativeUnit + parent + 20 children", UNIT,
                  [{"code": c} for c in districts]),
                 ("entries(search:, first: 100)", SEARCH,
                  [{"q": t} for t in TERMS]),
                 ("resolve (ended code)", RESOLVE,
                  [{"code": c} for c in graphql_data.merged_codes()])]
        rows = []
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            for label, query, variables in cases:
                bodies = [{"query": query, "variables": v} for v in variables]
                found: dict[str, Any] = {}
                order = [("primary", on_primary), ("standby", on_standby)]
                for name, port in order if len(rows) % 2 == 0 else order[::-1]:
                    url = f"http://127.0.0.1:{port}/graphql"
                    _warm(url, bodies[:20])
                    before = (transactions(primary), transactions(standby))
                    result = _drive(url, bodies, concurrency, args.duration)
                    after = (transactions(primary), transactions(standby))
                    result["tx"] = (after[0] - before[0], after[1] - before[1])
                    found[name] = result
                rows.append((label, concurrency, found["primary"], found["standby"]))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\nload average at the end (1, 5, 15 min, {os.cpu_count()} CPUs): {load}")
        print(f"one uvicorn worker per server, response cache off, {args.duration:g} s per "
              "cell; p50/p99 in ms; tx: transactions the primary / the standby ran during "
              "the cell\n")
        print("| query | clients | primary req/s | p50 | p99 | tx primary/standby "
              "| standby req/s | p50 | p99 | tx primary/standby | standby ÷ primary (req/s) |")
        print("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|")
        for label, concurrency, prim, stby in rows:
            cells = []
            for d in (prim, stby):
                cells += [f"{d['rps']:.0f}", f"{d['p50_ms']:.2f}", f"{d['p99_ms']:.2f}",
                          f"{d['tx'][0]:,} / {d['tx'][1]:,}"]
            print(f"| {label} | {concurrency} | " + " | ".join(cells)
                  + f" | {stby['rps'] / prim['rps']:.2f} |")
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        topology.down(root, say=False)


if __name__ == "__main__":
    main()
