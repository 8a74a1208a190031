"""Broker bench: how soon a release reaches a subscriber through the relay, beside the
HTTP long poll. Run: ``python bench/broker_bench.py [--releases 50] [--large 3]``.

A PostgreSQL centre (a scratch database, dropped afterwards) is served as ``registry
serve`` runs it, with ``registry broker relay`` in a process of its own, woken by the
publisher's NOTIFY, relaying into a stream of the run's own on NATS JetStream
(``--nats``, default nats://127.0.0.1:4222; the stream is deleted afterwards). Then:

* **relay lag**: from a release's commit at the centre to its closing record being
  received by a plain subscriber of the stream (p50, p99), over N small releases (1–3
  records) and a few large ones (5,000 records each);
* **applied, broker-driven**: from the commit to the release being applied by a
  ``--broker`` follower (SQLite replica), and the same for an HTTP long-polling follower
  in the same run, on the same releases;
* **HTTP long-poll wake-up**: a bare long poll on the head woken by a release
  (``bench/sync_bench.py``'s floor, measured here over a few releases).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg
from sync_bench import free_port, long_poll_floor, percentile, start_server

from registry.broker import open_broker
from registry.db import make_engine, session_factory, transaction
from registry.migrate import upgrade
from registry.sync.client import ReleaseChanges, SyncClient
from tests.factories import hanoi, publish, unit


def figures(name: str, delays: list[float]) -> None:
    """One line: p50, p99, max and the count."""
    if not delays:
        print(f"{name:<46} no samples")
        return
    print(f"{name:<46} p50 {percentile(delays, 0.5) * 1000:7.1f} ms   p99 "
          f"{percentile(delays, 0.99) * 1000:7.1f} ms   max {max(delays) * 1000:7.1f} ms   "
          f"({len(delays)} releases)")


def main() -> None:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--releases", type=int, default=50, help="small releases")
    parser.add_argument("--large", type=int, default=3, help="releases of 5,000 records")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--pg", default=DEFAULT_SERVER)
    args = parser.parse_args()

    url = fresh_pg(args.pg)
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        hanoi(session)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, port)
    tag = uuid.uuid4().hex[:8]
    stream, prefix = f"BENCH_{tag}", f"bench{tag}.feed"
    work = Path(tempfile.mkdtemp(prefix="broker-bench-"))
    relay = subprocess.Popen(
        [sys.executable, "-m", "registry", "broker", "relay", "--url", args.nats, "--stream",
         stream, "--subject-prefix", prefix],
        env={**os.environ, "REGISTRY_DATABASE_URL": url}, stderr=open(work / "relay.log", "w"))  # noqa: SIM115
    received: dict[int, float] = {}
    applied_broker: dict[int, float] = {}
    applied_http: dict[int, float] = {}
    stop = threading.Event()
    broker = open_broker(args.nats, stream, prefix)
    follower_broker = open_broker(args.nats, stream, prefix)
    try:
        time.sleep(1.0)  # the relay creates the stream
        subscription = broker.subscribe("_release")

        def subscribe() -> None:
            while not stop.is_set():
                message = subscription.next(0.5)
                if message is not None:
                    received.setdefault(message.release, time.time())

        def recorder(into: dict[int, float]) -> Any:
            def on_release(changes: ReleaseChanges) -> None:
                if not changes.bootstrap:
                    into.setdefault(changes.release, time.time())
            return on_release

        by_broker = SyncClient(base, f"sqlite:///{work / 'broker.db'}",
                               on_release=recorder(applied_broker))
        by_http = SyncClient(base, f"sqlite:///{work / 'http.db'}",
                             on_release=recorder(applied_http))
        by_http.pull()
        threads = [threading.Thread(target=subscribe, daemon=True),
                   threading.Thread(target=by_broker.follow_broker, args=(follower_broker,),
                                    daemon=True),
                   threading.Thread(target=by_http.follow, kwargs={"wait": 25}, daemon=True)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        committed: dict[int, float] = {}
        sizes: dict[int, int] = {}
        code = 10000

        def publish_release(records: int) -> tuple[int, float]:
            nonlocal code
            ops = [unit(f"{code + i:05d}", f"Phường Thử {code + i}", "Phường", "001")
                   for i in range(records)]
            code += records
            with transaction(sessions) as session:
                release = publish(session, ops, title=f"bench {records}")
            at = time.time()
            committed[release], sizes[release] = at, records
            return release, at

        print(f"publishing {args.releases} small releases and {args.large} large ones…",
              flush=True)
        plan = [1 + i % 3 for i in range(args.releases)]
        for n in range(args.large):
            plan.insert((n + 1) * len(plan) // (args.large + 1), 5000)
        for records in plan:
            publish_release(records)
            time.sleep(0.3 if records < 100 else 3.0)
        deadline = time.time() + 60
        while time.time() < deadline and not (
                set(committed) <= set(received) and set(committed) <= set(applied_broker)
                and set(committed) <= set(applied_http)):
            time.sleep(0.1)

        def delays(into: dict[int, float], large: bool) -> list[float]:
            return [into[r] - committed[r] for r in committed
                    if r in into and (sizes[r] >= 100) == large]

        print()
        figures("relay lag, small releases (commit → received)", delays(received, False))
        figures("relay lag, 5,000-record releases", delays(received, True))
        figures("applied via broker, small releases", delays(applied_broker, False))
        figures("applied via broker, 5,000-record releases", delays(applied_broker, True))
        figures("applied via HTTP long poll, small releases", delays(applied_http, False))
        figures("applied via HTTP long poll, 5,000-record", delays(applied_http, True))
        missing = [r for r in committed if r not in received or r not in applied_broker]
        if missing:
            print(f"warning: releases not seen everywhere within 60 s: {missing}")
        stop.set()
        by_broker.shutdown()
        by_http.shutdown()
        for thread in threads:
            thread.join(10)
        wakes: list[float] = []
        for _ in range(10):
            wakes.extend(long_poll_floor(base, 1, lambda: publish_release(1)[1]))
        figures("HTTP long-poll wake-up (bare, on the head)", wakes)
        print(f"(broker follower: {by_broker.store.state().release} release(s) at the end; "
              f"both replicas verified: {by_broker.verify().ok and by_http.verify().ok})")
        by_broker.close()
        by_http.close()
        subscription.close()
    finally:
        stop.set()
        relay.terminate()
        relay.wait(10)
        broker.delete_stream()
        broker.close()
        follower_broker.close()
        server.terminate()
        server.wait(30)
        engine.dispose()
        drop_pg(args.pg, url)


if __name__ == "__main__":
    main()
