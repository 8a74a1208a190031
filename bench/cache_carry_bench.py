"""The response cache across a publish: answers a release could not have changed stay.

The bundled data in a fresh PostgreSQL database, served by ``registry serve`` (one worker,
response cache on). 300 different districts are asked the issue's Q1 (a district on a
date, its parent and ~20 children), each once to fill the cache. Then, in one run, the
same 300 questions are asked

1. again (cached, the reference);
2. after a release that changes only the agencies: the answers read only administrative
   units, so they are carried to the new release (before, a publish dropped every answer);
3. after a release that renames a commune: every answer is computed again (the baseline:
   what every question cost after any publish before).

For each phase: the median and p90 latency of one request (one client, sequential), and the
server's cache counters (``registry_graphql_cache_total``) over the phase.

    python bench/cache_carry_bench.py [--districts 300] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg
from sqlalchemy import func, select

from registry.db import make_engine, session_factory, transaction
from registry.importers.bundled_load import load_bundled_data
from registry.migrate import upgrade
from registry.models import CodeList, Entry
from tests.factories import publish

Q1 = """query($code: String!) { administrativeUnit(code: $code, asOf: "2025-06-01") {
  code name parent { code name } children(first: 30) { nodes { code name type } } } }"""


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def counters(base: str) -> dict[str, float]:
    """The server's cache counters by result."""
    text = httpx.get(f"{base}/metrics").text
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^registry_graphql_cache_total\{result="(\w+)"\} ([\d.e+]+)', text, re.M)}


def phase(client: httpx.Client, base: str, codes: list[str], name: str) -> None:
    """Ask every code once; print the latencies and the cache counters' change."""
    before = counters(base)
    times = []
    for code in codes:
        started = time.perf_counter()
        answer = client.post(f"{base}/graphql", json={"query": Q1, "variables": {"code": code}})
        times.append(time.perf_counter() - started)
        if answer.status_code != 200 or "errors" in answer.json():
            raise SystemExit(f"{name}: {code}: {answer.text[:300]}")
    after = counters(base)
    delta = {k: int(after.get(k, 0) - before.get(k, 0)) for k in ("hit", "miss")}
    times.sort()
    print(f"| {name} | {statistics.median(times) * 1000:.2f} | "
          f"{times[int(len(times) * 0.9)] * 1000:.2f} | {delta['hit']} | {delta['miss']} |",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--districts", type=int, default=300)
    parser.add_argument("--pg", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    url = fresh_pg(args.pg)
    process: subprocess.Popen[bytes] | None = None
    logs = Path(tempfile.mkdtemp(prefix="cache-carry-"))
    try:
        engine = make_engine(url)
        upgrade(engine)
        load_bundled_data(engine)
        sessions = session_factory(engine)
        with sessions() as session:
            codes = list(session.scalars(
                select(Entry.code).join(CodeList, CodeList.id == Entry.list_id)
                .where(CodeList.key == "admin-units", func.length(Entry.code) == 3)
                .order_by(Entry.code).limit(args.districts)))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "REGISTRY_DATABASE_URL": url, "REGISTRY_GRAPHQL_CACHE": "5000"}
        log = logs / "serve.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "registry", "serve", "--port", str(port)], env=env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz").is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise SystemExit(log.read_text()[-2000:])
        print(f"{len(codes)} districts, Q1, one client, `registry serve` (1 worker) on "
              "PostgreSQL\n")
        print("| phase | p50 ms | p90 ms | cache hits | cache misses |")
        print("|---|---:|---:|---:|---:|")
        with httpx.Client(timeout=60) as client:
            phase(client, base, codes, "first time (fills the cache)")
            phase(client, base, codes, "again (cached)")
            with transaction(sessions) as session:
                publish(session, [{"op": "rename", "list": "agencies",
                                   "code": "000.00.00.G01", "name": "Bộ Công an (đổi tên)"}],
                        "2025-10-01", "an agencies-only release")
            phase(client, base, codes, "after a release of agencies only (carried)")
            with transaction(sessions) as session:
                publish(session, [{"op": "rename", "list": "admin-units", "code": "01",
                                   "name": "Thủ đô Hà Nội"}], "2025-10-01",
                        "an admin-units release")
            phase(client, base, codes, "after a release of admin-units (baseline: computed)")
        engine.dispose()
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
        drop_pg(args.pg, url)


if __name__ == "__main__":
    main()
