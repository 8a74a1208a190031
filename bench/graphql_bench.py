"""GraphQL benchmark: p50, p99 and throughput of three queries against their SQL floor.

    python bench/graphql_bench.py [--pg URL] [--duration 8] [--concurrency 1,4] [--keep]

1. Creates a fresh PostgreSQL database and loads 10,550 administrative units, 1,000
   agencies and 20,000 procedures through the service layer (bench/graphql_data.py).
2. Starts the registry (``registry.app:create_app``) with one uvicorn worker, and the floor
   (bench/graphql_floor.py: the same data by hand-written SQL, same uvicorn) beside it.
3. Drives each from another process (bench/graphql_load.py) with concurrent keep-alive
   clients, and prints a table with our time divided by the floor's.

Figures depend on the machine; the floor, measured in the same run, is the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import graphql_data  # noqa: E402
from pgtools import drop_pg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy_utils import create_database  # noqa: E402

from registry.db import make_engine  # noqa: E402
from registry.migrate import upgrade  # noqa: E402

UNIT = """query Unit($code: String!) {
  administrativeUnit(code: $code) {
    code name type level status validFrom
    parent { code name type }
    children(first: 20) { nodes { code name type level status validFrom } }
  }
}"""
SEARCH = """query Search($q: String!) {
  entries(list: "admin-units", search: $q, first: 100) {
    nodes { code name type level status validFrom }
    pageInfo { hasNextPage endCursor }
  }
}"""
RESOLVE = """query Resolve($code: String!) {
  resolve(list: "admin-units", code: $code) {
    status endedOn
    successors { isDefault entry { code name type level status validFrom } }
  }
}"""
TERMS = ["hòa", "PHU", "tan binh", "xa an", "Đông", "thanh", "long", "hai son", "minh",
         "ngoc", "vinh", "xuan thinh", "cat", "bac", "loi"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(target: str, url: str, port: int, app_dir: Path | None = None,
           cache: str = "0", env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--no-access-log", "--log-level", "warning"]
    if target.endswith("create_app"):
        cmd.append("--factory")
    if app_dir is not None:
        cmd += ["--app-dir", str(app_dir)]
    env = {**os.environ, "REGISTRY_DATABASE_URL": url, "REGISTRY_GRAPHQL_CACHE": cache,
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]), **(env or {})}
    process = subprocess.Popen(cmd, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{target} did not start on port {port}")


def _warm(url: str, bodies: list[dict[str, Any]]) -> None:
    """One pass over every distinct request, so the response cache holds them all."""
    for body in bodies:
        request = urllib.request.Request(url, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def _drive(url: str, bodies: list[dict[str, Any]], concurrency: int,
           duration: float) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(HERE / "graphql_load.py"), url, str(concurrency), str(duration)],
        input=json.dumps(bodies).encode(), capture_output=True, check=True)
    data: dict[str, Any] = json.loads(result.stdout)
    if data["failures"]:
        raise SystemExit(f"{url}: {data['failures']} failed requests, first: "
                         f"{data['first_failure']}")
    return data


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get(
        "REGISTRY_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--concurrency", default="1,4", help="client connections, e.g. 1,4")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME",
                        help="run on a database a --keep run loaded, skipping the load")
    args = parser.parse_args()

    name = args.reuse or f"registry_bench_{uuid.uuid4().hex[:8]}"
    url = f"{args.pg}/{name}"
    if not args.reuse:
        create_database(url)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        engine = make_engine(url)
        if not args.reuse:
            upgrade(engine)
            print(f"loading the data set into {name} …")
            graphql_data.load(engine)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))  # outside a transaction, or its statistics are lost
            counts = dict(conn.execute(text(
                "SELECT c.key, count(*) FROM entry_versions v JOIN code_lists c "
                "ON c.id = v.list_id WHERE v.superseded_release IS NULL GROUP BY c.key")).all())
        engine.dispose()
        print("  current records: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

        cold_port, warm_port, floor_port = _free_port(), _free_port(), _free_port()
        processes.append(_start("registry.app:create_app", url, cold_port, cache="0"))
        processes.append(_start("registry.app:create_app", url, warm_port, cache="20000"))
        processes.append(_start("graphql_floor:app", url, floor_port, HERE))

        districts = [graphql_data.district_code(p, d) for p in range(graphql_data.PROVINCES)
                     for d in range(graphql_data.DISTRICTS)]
        ended = graphql_data.merged_codes()
        cases = [
            ("administrativeUnit + parent + 20 children", "unit", UNIT,
             [{"code": c} for c in districts]),
            ("entries(search:, first: 100)", "search", SEARCH, [{"q": t} for t in TERMS]),
            ("resolve (ended code)", "resolve", RESOLVE, [{"code": c} for c in ended]),
        ]
        for _label, _path, query, variables in cases:
            _warm(f"http://127.0.0.1:{warm_port}/graphql",
                  [{"query": query, "variables": v} for v in variables])
        rows = []
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            for label, floor_path, query, variables in cases:
                bodies = [{"query": query, "variables": v} for v in variables]
                cold = _drive(f"http://127.0.0.1:{cold_port}/graphql", bodies, concurrency,
                              args.duration)
                warm = _drive(f"http://127.0.0.1:{warm_port}/graphql", bodies, concurrency,
                              args.duration)
                floor = _drive(f"http://127.0.0.1:{floor_port}/floor/{floor_path}",
                               [{"variables": v} for v in variables], concurrency,
                               args.duration)
                rows.append((label, concurrency, cold, warm, floor))
        _print(rows, args.duration)
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        if not args.keep and not args.reuse:
            drop_pg(args.pg, url)


def _print(rows: list[tuple[str, int, dict[str, Any], dict[str, Any], dict[str, Any]]],
           duration: float) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average at the end (1, 5, 15 min, {os.cpu_count()} CPUs): {load}")
    print(f"one uvicorn worker per server, {duration:g} s per cell after 1 s warm-up; "
          "p50/p99 in ms, throughput in requests/s. cold: response cache off; warm: "
          "release-keyed cache after one pass over the keys; floor: direct SQL\n")
    print("| query | clients | cold p50 | cold p99 | cold req/s | warm p50 | warm p99 "
          "| warm req/s | floor p50 | floor p99 | floor req/s | cold ÷ floor (p50) "
          "| warm ÷ floor (p50) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, concurrency, cold, warm, floor in rows:
        cells = [f"{d[k]:.2f}" if k != "rps" else f"{d[k]:.0f}"
                 for d in (cold, warm, floor) for k in ("p50_ms", "p99_ms", "rps")]
        print(f"| {label} | {concurrency} | " + " | ".join(cells)
              + f" | {cold['p50_ms'] / floor['p50_ms']:.1f}× "
              f"| {warm['p50_ms'] / floor['p50_ms']:.1f}× |")


if __name__ == "__main__":
    main()
