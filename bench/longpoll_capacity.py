"""How many long-polling followers one API node holds, and how fast it wakes them all.

    python bench/longpoll_capacity.py [--waiters 1,1000,5000]

A PostgreSQL centre (10,000 bench versions, bench/sync_data.py) is served by one uvicorn
worker (bench/sync_bench.py's ``start_server``, notified by the primary's ``NOTIFY``). For
each number of waiters, from one client process on one asyncio loop with raw keep-alive
sockets: every waiter asks the head with ``wait=60&after=<head seq>`` and waits; once all
wait, one record is published; the figures are the time from the publish's commit until
each waiter has its answer (p50, p99, last), the node's resident memory while they wait
(above its idle size), and the node's CPU time to take the requests and to wake and answer
them. The publish waits until the node's CPU stands still (every request is waiting). One
waiter is the baseline.

This is the cost that the HTTP cache cannot take away (a long poll is live) and that the
broker does (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from pgtools import DEFAULT_SERVER, drop_pg  # noqa: E402
from sync_bench import free_port, percentile, start_server  # noqa: E402
from sync_data import build, publish_items  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _waiter(port: int, path: str, ready: asyncio.Event, counter: list[int],
                  total: int, woken: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: node\r\n\r\n".encode())
    await writer.drain()
    counter[0] += 1
    if counter[0] == total:
        ready.set()
    head = await reader.readuntil(b"\r\n\r\n")
    woken.append(time.time())
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    await reader.readexactly(length)
    writer.close()


def server_cpu_of(pid: int) -> float:
    """CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _crowd(port: int, pid: int, seq: int, waiters: int, publish: object,
                 idle: list[float]) -> tuple[list[float], float]:
    ready = asyncio.Event()
    counter = [0]
    woken: list[float] = []
    path = f"/sync/v1/head?wait=60&after={seq}"
    tasks = [asyncio.create_task(_waiter(port, path, ready, counter, waiters, woken))
             for _ in range(waiters)]
    await ready.wait()
    # Every request has reached the node and waits once the node's CPU stands still.
    before = server_cpu_of(pid)
    for _ in range(120):
        await asyncio.sleep(0.5)
        now = server_cpu_of(pid)
        if now - before < 0.02:
            break
        before = now
    assert callable(publish)
    idle_from = server_cpu_of(pid)
    await asyncio.sleep(5)
    idle[0] = (server_cpu_of(pid) - idle_from) / 5
    waiting_cpu = server_cpu_of(pid)
    committed: float = await asyncio.to_thread(publish)
    await asyncio.gather(*tasks)
    return [w - committed for w in woken], waiting_cpu


def _sample(pid: int, peak: list[float], done: threading.Event) -> None:
    while not done.wait(0.2):
        peak[0] = max(peak[0], rss_mb(pid))


def main() -> None:
    """Run each crowd and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiters", default="1,1000,5000")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    name = f"registry_longpoll_{os.getpid()}"
    url = build(10_000, server=args.server, name=name)
    port = free_port()
    node = start_server(url, port)
    rows = []
    try:
        base = f"http://127.0.0.1:{port}"
        next_item = [9_000_000]  # codes are 7 digits; the bench list holds 0…

        def publish() -> float:
            next_item[0] += 1
            publish_items(url, next_item[0], 1, "one more")
            return time.time()

        for waiters in [int(w) for w in args.waiters.split(",")]:
            head = json.loads(urllib.request.urlopen(f"{base}/sync/v1/head").read())
            idle = rss_mb(node.pid)
            cpu = server_cpu_of(node.pid)

            peak = [idle]
            done = threading.Event()

            thread = threading.Thread(target=_sample, args=(node.pid, peak, done),
                                      daemon=True)
            thread.start()
            idle_cpu = [0.0]
            delays, waiting_cpu = asyncio.run(_crowd(port, node.pid, head["seq"], waiters,
                                                     publish, idle_cpu))
            done.set()
            thread.join()
            rows.append((waiters, delays, peak[0] - idle, waiting_cpu - cpu, idle_cpu[0],
                         server_cpu_of(node.pid) - waiting_cpu))
            print(f"  {waiters} waiters: last woken after {max(delays):.3f} s", flush=True)
    finally:
        node.terminate()
        try:
            node.wait(10)
        except subprocess.TimeoutExpired:  # waiters of a failed crowd hold it open
            node.kill()
            node.wait()
        drop_pg(args.server, url)
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs); one uvicorn worker, PostgreSQL NOTIFY\n")
    print("| waiters | woken p50 | p99 | last | node memory while waiting | per waiter "
          "| node CPU to take the requests | node CPU while they wait | node CPU to wake and "
          "answer |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for waiters, delays, memory, taking, waiting, waking in rows:
        print(f"| {waiters:,} | {percentile(delays, 0.5) * 1000:.0f} ms "
              f"| {percentile(delays, 0.99) * 1000:.0f} ms | {max(delays) * 1000:.0f} ms "
              f"| +{memory:.1f} MB | {memory * 1024 / waiters:.1f} KB | {taking:.2f} s "
              f"| {waiting * 100:.1f}% of a core | {waking:.2f} s |")


if __name__ == "__main__":
    main()
