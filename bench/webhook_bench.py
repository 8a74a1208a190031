"""Webhooks: delivery of each release to many subscribers, and what they cost publishing.

Run: ``python bench/webhook_bench.py [--subscribers 500] [--releases 20]``.

On a scratch PostgreSQL database, with a delivery worker running as its own process
(``registry webhook run``, as a deployment would) and a receiver in another:

1. publishes one-rename releases ``--gap`` seconds apart (1) in alternating blocks of
   five: without
   any active subscription (the baseline), then with ``--subscribers`` subscriptions (their
   deliveries going out meanwhile), ``--releases`` of each, each release timed from the
   session's start to its commit;
2. times each delivery from its release's commit to its arrival at the receiver.

Prints the publish medians and their ratio (subscriptions ÷ none), and the delivery
p50/p99 and the time until the last subscriber of a release had it. The scratch database is
dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg
from sqlalchemy import func, select, update

from registry.db import make_engine, session_factory, transaction
from registry.migrate import upgrade
from registry.models import WebhookEvent, WebhookSubscription
from registry.services.actors import SYSTEM
from registry.services.webhooks.subscriptions import add_subscription
from tests.factories import hanoi, publish

ROOT = Path(__file__).resolve().parent.parent

BLOCK = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _arrivals(base: str) -> list[tuple[str, int, float]]:
    with urllib.request.urlopen(f"{base}/arrivals", timeout=30) as answer:
        return [tuple(row) for row in json.loads(answer.read())]  # type: ignore[misc]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    """Run the phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--releases", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=16, help="the worker's threads")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between releases")
    parser.add_argument("--nice", type=int, default=0,
                        help="run the worker process niced (an experiment; 0 as deployed)")
    parser.add_argument("--pg", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    url = fresh_pg(args.pg)
    engine = make_engine(url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REGISTRY_DATABASE_URL": url, "REGISTRY_WEBHOOK_JOBS": str(args.jobs)}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            hanoi(session)
        processes.append(subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "webhook_receiver.py"), str(port)]))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "registry", "webhook", "run", "--jobs", str(args.jobs)],
            env=env, stdout=subprocess.DEVNULL,
            preexec_fn=(lambda: os.nice(args.nice)) if args.nice else None))
        _wait_http(f"{base}/arrivals")
        committed: dict[int, float] = {}
        names = iter(range(10**6))

        def phase(count: int, gap: float = args.gap) -> tuple[list[float], list[int]]:
            times, releases = [], []
            for _ in range(count):
                n = next(names)
                started = time.perf_counter()
                with transaction(sessions) as session:
                    release = publish(session, [{"op": "rename", "list": "admin-units",
                                                 "code": "00004", "name": f"Phường {n}"}])
                committed[release] = time.time()
                times.append(time.perf_counter() - started)
                releases.append(release)
                time.sleep(gap)
            return times, releases

        with transaction(sessions) as session:
            for i in range(args.subscribers):
                add_subscription(session, SYSTEM, f"{base}/s{i}", "release.published")
        # Blocks of five releases, alternately without and with the subscriptions active,
        # so that both sides see the same machine (a drifting disk or cache hits both).
        times: dict[str, list[float]] = {"none": [], "subs": []}
        delivered_releases: list[int] = []
        for _ in range(max(1, args.releases // BLOCK)):
            for mode in ("none", "subs"):
                with transaction(sessions) as session:
                    newest = session.scalar(select(func.max(WebhookEvent.id))) or 0
                    session.execute(update(WebhookSubscription).values(
                        removed_at=None if mode == "subs" else datetime.now(UTC),
                        last_event_id=newest))
                block, releases = phase(BLOCK)
                times[mode].extend(block)
                if mode == "subs":
                    delivered_releases.extend(releases)
                    # Removing the subscriptions stops their deliveries: let them finish.
                    until = time.monotonic() + 120
                    while (len(_arrivals(base)) < args.subscribers * len(delivered_releases)
                           and time.monotonic() < until):
                        time.sleep(0.2)
        expected = args.subscribers * len(delivered_releases)
        deadline = time.monotonic() + 300
        while len(_arrivals(base)) < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        arrivals = _arrivals(base)
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        engine.dispose()
        drop_pg(args.pg, url)
    latencies = [at - committed[release] for _, release, at in arrivals]
    by_release: dict[int, list[float]] = {}
    for _, release, at in arrivals:
        by_release.setdefault(release, []).append(at - committed[release])
    last = [max(values) for values in by_release.values()]
    baseline = statistics.median(times["none"])
    median_with = statistics.median(times["subs"])
    print(f"publish, one rename, {len(times['none'])} + {len(times['subs'])} releases "
          f"{args.gap:g} s apart in alternating blocks of {BLOCK}: no active subscription "
          f"{baseline * 1000:.1f} "
          f"ms median; {args.subscribers} subscriptions (deliveries going out) "
          f"{median_with * 1000:.1f} ms; ratio {median_with / baseline:.2f}")
    print(f"deliveries: {len(arrivals)} of {expected} arrived "
          f"({len(delivered_releases)} releases × {args.subscribers} subscribers, worker "
          f"{args.jobs} threads)")
    if latencies:
        print(f"publish → receipt: p50 {_pct(latencies, 0.5) * 1000:.0f} ms, p99 "
              f"{_pct(latencies, 0.99) * 1000:.0f} ms; last subscriber of a release: p50 "
              f"{_pct(last, 0.5) * 1000:.0f} ms, max {max(last) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
