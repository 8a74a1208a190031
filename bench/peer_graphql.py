"""GraphQL beside PostGraphile 5: the same three questions on the same PostgreSQL and data.

    python bench/peer_graphql.py [--quick] [--rounds 3] [--duration 5] [--concurrency 1,16]
                                 [--pg URL] [--npm-dir DIR] [--keep] [--reuse NAME]

1. Creates a scratch PostgreSQL database, loads the bundled lists as ``registry demo`` does
   (``load_bundled_data``) and applies PostGraphile's schema ``pg5`` over the registry's
   tables (bench/peer_postgraphile/pg5_schema.sql).
2. Installs PostGraphile 5 with ``npm install`` into a scratch directory outside the
   repository (kept between runs, keyed by package.json), and starts it with custom plans
   (``PG5_CUSTOM_PLANS=1``, its best setting). Without ``node`` and ``npm`` it says so and
   exits with status 2 before touching the database.
3. Starts the registry as ``registry serve`` runs it four times: one worker with the
   response cache off (``REGISTRY_GRAPHQL_CACHE=0``) and on (the default size), two workers
   with it off, and one worker with it off and planned execution off
   (``REGISTRY_GRAPHQL_PLANNED=0``: every field resolved by graphql-core, the baseline of
   planned execution); and the raw-SQL floor (bench/peer_floor.py: bench/graphql_floor.py's
   app with the three questions added).
4. Asks every system every key (76 districts, 6 terms, 200 ended communes) and stops unless
   the normalised answers (bench/peer_postgraphile/queries.py) are the same everywhere.
5. Times the questions interleaved: each round runs every concurrency × question × system
   once, the order of systems turned by one each round, from bench/graphql_load.py in its own
   process. Prints medians over rounds of req/s, p50 and p99, and the ratios (registry ÷
   PostGraphile, ÷ floor, planned ÷ unplanned, two workers ÷ one).

``--quick`` (2 rounds of 1 s) runs in about 4 minutes once npm has installed PostGraphile;
the full run in about 13.
Figures depend on the machine and its load; ratios within one run are what to compare.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEER = HERE / "peer_postgraphile"
sys.path[:0] = [str(HERE.parent), str(HERE)]

import httpx  # noqa: E402
import psycopg  # noqa: E402
from graphql_bench import _drive, _free_port, _start  # noqa: E402
from peer_postgraphile import queries  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy_utils import create_database  # noqa: E402

from registry.db import make_engine  # noqa: E402
from registry.importers.bundled_load import load_bundled_data  # noqa: E402
from registry.migrate import upgrade  # noqa: E402

QUESTIONS = {"q1": "Q1 district on a date, parent, ~20 children",
             "q2": "Q2 accent-insensitive search, 100, parent names",
             "q3": "Q3 resolve an ended commune"}
# (label, how requests are shaped: see queries.bodies)
SYSTEMS = [("registry, cache off", "registry"), ("registry, cache on", "registry"),
           ("registry, cache off, 2 workers", "registry"),
           ("registry, cache off, unplanned", "registry"),
           ("PostGraphile 5", "pg5"), ("raw-SQL floor", "floor")]
# How each registry system is started: (REGISTRY_GRAPHQL_CACHE, planned, workers).
REGISTRY_RUNS = {"registry, cache off": ("0", True, 1), "registry, cache on": (None, True, 1),
                 "registry, cache off, 2 workers": ("0", True, 2),
                 "registry, cache off, unplanned": ("0", False, 1)}
PEER_FILES = ("package.json", "graphile.config.mjs", "polyfill.cjs")


def _need_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        print(f"peer_graphql: {' and '.join(missing)} not found on PATH: PostGraphile 5 "
              "needs Node.js and npm; nothing was measured", file=sys.stderr)
        raise SystemExit(2)


def _default_npm_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256((PEER / "package.json").read_bytes()).hexdigest()[:12]
    return cache / "registry-bench" / f"postgraphile-{digest}"


def _install(npm_dir: Path) -> None:
    """Copy the peer's files to ``npm_dir`` and ``npm install`` there, once."""
    npm_dir.mkdir(parents=True, exist_ok=True)
    for name in PEER_FILES:
        shutil.copyfile(PEER / name, npm_dir / name)
    if (npm_dir / "node_modules" / ".bin" / "postgraphile").exists():
        return
    print(f"npm install in {npm_dir} …", flush=True)
    log = npm_dir / "npm-install.log"
    with log.open("wb") as out:
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=npm_dir,
                              stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        print(log.read_text()[-2000:], file=sys.stderr)
        raise SystemExit(f"npm install failed ({done.returncode}); log: {log}")


def _load(url: str) -> None:
    """Migrate, load the bundled data, analyse, and add the peer's schema ``pg5``."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        report = load_bundled_data(engine)
        print(f"  loaded {len(report.published)} bundled change sets "
              f"({report.operations} operations) in {time.perf_counter() - started:.0f} s",
              flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))  # outside a transaction, or its statistics are lost
    finally:
        engine.dispose()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute((PEER / "pg5_schema.sql").read_text())  # type: ignore[call-overload]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _wait(process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str,
          log: Path) -> subprocess.Popen[bytes]:
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            break
        try:
            if ready():
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    print(log.read_text()[-3000:], file=sys.stderr)
    raise SystemExit(f"{what} did not start")


def _start_registry(url: str, port: int, run: tuple[str | None, bool, int],
                    logs: Path) -> subprocess.Popen[bytes]:
    """``registry serve``: ``run`` is (REGISTRY_GRAPHQL_CACHE or None for the default,
    whether to plan, workers)."""
    cache, planned, workers = run
    env = {**os.environ, "REGISTRY_DATABASE_URL": url}
    env.pop("REGISTRY_GRAPHQL_CACHE", None)
    env.pop("REGISTRY_GRAPHQL_PLANNED", None)
    if cache is not None:
        env["REGISTRY_GRAPHQL_CACHE"] = cache
    if not planned:
        env["REGISTRY_GRAPHQL_PLANNED"] = "0"
    log = logs / f"registry-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "registry", "serve", "--port", str(port), "--workers",
         str(workers)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return _wait(process, lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").is_success,
                 "registry serve", log)


def _start_pg5(url: str, port: int, npm_dir: Path, logs: Path) -> subprocess.Popen[bytes]:
    """PostGraphile 5 with custom plans; the polyfill lets it run on Node 20."""
    env = {**os.environ, "DATABASE_URL": _libpq(url).split("?")[0], "PG5_PORT": str(port),
           "PG5_CUSTOM_PLANS": "1", "NODE_ENV": "production"}
    log = logs / "postgraphile.log"
    process = subprocess.Popen(
        ["node", "--require", "./polyfill.cjs", "node_modules/.bin/postgraphile",
         "-C", "graphile.config.mjs"],
        cwd=npm_dir, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)

    def ready() -> bool:
        answer = httpx.post(f"http://127.0.0.1:{port}/graphql",
                            json={"query": "{ __typename }"})
        return answer.is_success and "errors" not in answer.json()

    return _wait(process, ready, "PostGraphile", log)


def _answers(endpoint: Callable[[str], str], system: str) -> dict[str, list[Any]]:
    """Every key's normalised answer, question by question."""
    out: dict[str, list[Any]] = {}
    with httpx.Client(timeout=60) as client:
        for q in QUESTIONS:
            out[q] = []
            for body in queries.bodies(system, q):
                payload = client.post(endpoint(q), json=body).raise_for_status().json()
                if payload.get("errors"):
                    raise SystemExit(f"{endpoint(q)} {q}: {payload['errors']}")
                out[q].append(queries.normalise(q, payload))
    return out


def _check(endpoints: dict[str, Callable[[str], str]]) -> int:
    """Stop unless every system answers every key as PostGraphile does; return the keys."""
    with ThreadPoolExecutor(len(SYSTEMS)) as pool:
        found = dict(zip(endpoints, pool.map(
            _answers, endpoints.values(), [dict(SYSTEMS)[label] for label in endpoints]),
            strict=True))
    reference = found["PostGraphile 5"]
    differences = []
    for label, answers in found.items():
        for q in QUESTIONS:
            for variables, got, want in zip(queries.variables(q), answers[q], reference[q],
                                            strict=True):
                if got != want:
                    differences.append(f"{label} {q} {variables}:\n  got  {got}\n  want {want}")
    if differences:
        print("\n".join(differences[:5]), file=sys.stderr)
        raise SystemExit(f"{len(differences)} answers differ from PostGraphile's")
    return sum(len(answers) for answers in reference.values())


def main() -> None:
    """Set up, check, time, print."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get(
        "REGISTRY_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds per cell, after 1 s of warm-up")
    parser.add_argument("--concurrency", default="1,16", help="client connections, e.g. 1,16")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 s per cell")
    parser.add_argument("--npm-dir", type=Path, default=None,
                        help="where npm installs PostGraphile (default: a user cache dir)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="NAME",
                        help="run on a database a --keep run loaded, skipping the load")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 2, 1.0
    _need_node()
    npm_dir = args.npm_dir or _default_npm_dir()
    _install(npm_dir)

    name = args.reuse or f"registry_bench_{uuid.uuid4().hex[:8]}"
    url = f"{args.pg}/{name}"
    processes: list[subprocess.Popen[bytes]] = []
    logs = Path(tempfile.mkdtemp(prefix="peer-graphql-"))
    try:
        if not args.reuse:
            create_database(url)
            print(f"loading the bundled data into {name} …", flush=True)
            _load(url)
        ports = {label: _free_port() for label, _ in SYSTEMS}
        for label, run in REGISTRY_RUNS.items():
            processes.append(_start_registry(url, ports[label], run, logs))
        processes.append(_start_pg5(url, ports["PostGraphile 5"], npm_dir, logs))
        processes.append(_start("peer_floor:app", url, ports["raw-SQL floor"], HERE))
        endpoints: dict[str, Callable[[str], str]] = {
            label: (lambda q, port=ports[label]: f"http://127.0.0.1:{port}/graphql")
            for label, kind in SYSTEMS if kind != "floor"}
        endpoints["raw-SQL floor"] = (
            lambda q: f"http://127.0.0.1:{ports['raw-SQL floor']}/floor/peer/{q}")
        keys = _check(endpoints)  # also fills the registry's response cache, when on
        print(f"  same normalised answers from all four on {keys} keys", flush=True)
        results = _time(endpoints, [int(c) for c in args.concurrency.split(",")],
                        args.rounds, args.duration)
        _print(results, args)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        shutil.rmtree(logs, ignore_errors=True)
        if not args.keep and not args.reuse:
            from pgtools import drop_pg

            drop_pg(args.pg, url)


Cell = tuple[str, int, str]  # question, concurrency, system label


def _time(endpoints: dict[str, Callable[[str], str]], concurrencies: list[int], rounds: int,
          duration: float) -> dict[Cell, list[dict[str, Any]]]:
    results: dict[Cell, list[dict[str, Any]]] = {}
    labels = [label for label, _ in SYSTEMS]
    for r in range(rounds):
        order = labels[r % len(labels):] + labels[:r % len(labels)]
        print(f"  round {r + 1}/{rounds} …", flush=True)
        for concurrency in concurrencies:
            for q in QUESTIONS:
                for label in order:
                    bodies = queries.bodies(dict(SYSTEMS)[label], q)
                    results.setdefault((q, concurrency, label), []).append(
                        _drive(endpoints[label](q), bodies, concurrency, duration))
    return results


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def _print(results: dict[Cell, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    concurrencies = sorted({c for _, c, _ in results})
    print(f"\nload average at the end (1, 5, 15 min, {os.cpu_count()} CPUs): {load}")
    print(f"one process per system; {args.rounds} interleaved rounds of {args.duration:g} s "
          "per cell after 1 s warm-up; medians over rounds; p50/p99 in ms\n")
    print("| question | clients | system | req/s | p50 | p99 |")
    print("|---|---:|---|---:|---:|---:|")
    for q, label in QUESTIONS.items():
        for concurrency in concurrencies:
            for system, _ in SYSTEMS:
                runs = results[(q, concurrency, system)]
                print(f"| {label} | {concurrency} | {system} | {_median(runs, 'rps'):.0f} "
                      f"| {_median(runs, 'p50_ms'):.2f} | {_median(runs, 'p99_ms'):.2f} |")
    print("\nratios of medians: req/s registry ÷ PostGraphile (cache off, on), req/s and p50 "
          "registry (cache off) ÷ floor, req/s planned ÷ unplanned (cache off), req/s 2 "
          "workers ÷ 1 (cache off)\n")
    print("| question | clients | off ÷ PG5 req/s | on ÷ PG5 req/s | off ÷ floor req/s "
          "| off ÷ floor p50 | planned ÷ unplanned | 2 workers ÷ 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for q, label in QUESTIONS.items():
        for concurrency in concurrencies:
            def med(system: str, key: str, q: str = q, c: int = concurrency) -> float:
                return _median(results[(q, c, system)], key)

            off_rps = med("registry, cache off", "rps")
            print(f"| {label} | {concurrency} | {off_rps / med('PostGraphile 5', 'rps'):.2f} "
                  f"| {med('registry, cache on', 'rps') / med('PostGraphile 5', 'rps'):.2f} "
                  f"| {off_rps / med('raw-SQL floor', 'rps'):.2f} "
                  f"| {med('registry, cache off', 'p50_ms') / med('raw-SQL floor', 'p50_ms'):.1f}"
                  f" | {off_rps / med('registry, cache off, unplanned', 'rps'):.2f}"
                  f" | {med('registry, cache off, 2 workers', 'rps') / off_rps:.2f} |")


if __name__ == "__main__":
    main()
