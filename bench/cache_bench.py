"""Followers bootstrapping one release through nginx (deploy/nginx/registry.conf) in front
of one registry node. Run: ``python bench/cache_bench.py [--followers 10,100,1000]``.

The centre is the bundled data (``registry demo``'s), published into a fresh PostgreSQL
database and served by one uvicorn worker (``bench/sync_bench.py``'s ``start_server``).
Each follower does over HTTP what ``registry sync pull`` does to bootstrap, with gzip:
the head, every page of the head release's snapshot, the release's checksums (what
``registry sync verify`` compares) and the head's change page after the snapshot's seq.
It applies nothing: the subject is what reaches the node. The followers of one run start
together, on one asyncio loop with httpx, at most ``--in-flight`` requests at a time.

For each number of followers, on an empty cache: the requests that reached the node (from
nginx's access log, ``upstream=``), split into immutable pages and the live head (the
head and the page read with ``after``, which no cache may keep), the cache's hit ratio
over the cacheable requests, the bytes received and the wall time. The baseline is the
same bootstrap by 10 followers straight at the node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg
from sync_bench import free_port, start_server, walk_snapshot

from registry.db import make_engine
from registry.importers.bundled_load import load_bundled_data
from registry.migrate import upgrade
from tests.deploy.nginx import Nginx, nginx_binary

GZIP = {"Accept-Encoding": "gzip"}
IMMUTABLE = re.compile(r"/sync/v1/(snapshot|checksums|deltas)/|/sync/v1/changes/[^?]*$")


@dataclass
class Tally:
    """What the followers of one run received."""

    requests: int = 0
    wire_bytes: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def _get(client: httpx.AsyncClient, gate: asyncio.Semaphore, tally: Tally, url: str,
               params: dict[str, str] | None = None) -> httpx.Response:
    async with gate:
        response = await client.get(url, params=params, headers=GZIP)
    tally.requests += 1
    tally.wire_bytes += response.num_bytes_downloaded
    tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
    response.raise_for_status()
    return response


async def follower(client: httpx.AsyncClient, gate: asyncio.Semaphore, tally: Tally,
                   base: str) -> None:
    """One bootstrap's requests, in the order the client makes them."""
    head = (await _get(client, gate, tally, f"{base}/sync/v1/head")).json()
    epoch, release = head["epoch"], head["release"]
    token = ""
    while True:
        page = await _get(client, gate, tally, f"{base}/sync/v1/snapshot/{epoch}/{release}",
                          {"after": token} if token else None)
        header = json.loads(page.content.split(b"\n", 1)[0])
        token = header.get("next") or ""
        if not token:
            break
    await _get(client, gate, tally, f"{base}/sync/v1/checksums/{epoch}/{release}")
    size = head["page_size"]
    await _get(client, gate, tally, f"{base}/sync/v1/changes/{epoch}/{size}/"
               f"{head['seq'] // size}", {"after": str(head["seq"])})


async def crowd(base: str, followers: int, in_flight: int) -> tuple[Tally, float]:
    """``followers`` bootstraps at once; what they received and the wall time."""
    tally = Tally()
    gate = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(limits=limits, timeout=300) as client:
        started = time.perf_counter()
        await asyncio.gather(*(follower(client, gate, tally, base) for _ in range(followers)))
        return tally, time.perf_counter() - started


@dataclass
class Origin:
    """The requests that reached the node, read from nginx's access log."""

    immutable: int
    live: int
    hits: int
    cacheable: int


def origin_of(nginx: Nginx) -> Origin:
    """Count from the log: ``upstream=`` names the node when it was asked."""
    immutable = live = hits = cacheable = 0
    for line in nginx.log_lines():
        uri = line.split('"')[1].split()[1]
        status = line.split("cache=")[1].split()[0]
        asked = line.split("upstream=")[1].split()[0] != "-"
        kept = bool(IMMUTABLE.search(uri))
        cacheable += kept
        hits += kept and status == "HIT"
        if asked:
            immutable += kept
            live += not kept
    return Origin(immutable, live, hits, cacheable)


def build_centre(server: str) -> str:
    """A fresh PostgreSQL database with the bundled data published; its URL."""
    url = fresh_pg(server)
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    report = load_bundled_data(engine)
    engine.dispose()
    print(f"  centre: bundled data published in {time.perf_counter() - started:.1f} s "
          f"({len(report.published)} change sets, {report.operations:,} operations)",
          flush=True)
    return url


def main() -> None:
    """Run every crowd and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--followers", default="10,100,1000")
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    binary = nginx_binary()
    if binary is None:
        sys.exit("nginx is required (apt-get install nginx-light)")
    crowds = [int(n) for n in args.followers.split(",")]
    url = build_centre(args.server)
    port = free_port()
    server = start_server(url, port)
    origin_base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="cache-bench-"))
    rows = []
    try:
        walk_snapshot(origin_base)  # the release's pages built and stored once, before timing
        tally, seconds = asyncio.run(crowd(origin_base, 10, args.in_flight))
        rows.append(("10, straight at the node (baseline)", tally.requests, "—", "—",
                     tally.wire_bytes, seconds, tally.requests))
        print(f"  baseline: {tally.requests} requests, all at the node", flush=True)
        for followers in crowds:
            nginx = Nginx(binary, work / f"nginx-{followers}", [f"127.0.0.1:{port}"])
            nginx.directory.mkdir()
            nginx.start()  # an empty cache for each crowd
            try:
                tally, seconds = asyncio.run(crowd(nginx.base, followers, args.in_flight))
            finally:
                nginx.stop()
            found = origin_of(nginx)
            ratio = found.hits / found.cacheable if found.cacheable else 0.0
            rows.append((f"{followers}, through nginx", tally.requests,
                         f"{found.immutable}", f"{found.live}", tally.wire_bytes, seconds,
                         found.immutable + found.live, ratio))
            print(f"  {followers} followers: {found.immutable} immutable-page requests and "
                  f"{found.live} live ones reached the node; hit ratio {ratio:.1%}",
                  flush=True)
    finally:
        server.terminate()
        server.wait(30)
        drop_pg(args.server, url)
        shutil.rmtree(work, ignore_errors=True)
    print("\n| followers | requests | at the node: immutable pages | at the node: live head "
          "| at the node: total | hit ratio (cacheable) | bytes received | wall time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        name, requests, immutable, live, size, seconds, total = row[:7]
        ratio = f"{row[7]:.1%}" if len(row) > 7 else "—"
        print(f"| {name} | {requests:,} | {immutable} | {live} | {total:,} | {ratio} | "
              f"{size:,} | {seconds:.2f} s |")


if __name__ == "__main__":
    main()
