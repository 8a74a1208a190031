"""Following clients for the fan-out benchmark: N threads, each a replica in its own
SQLite file, following one centre. Prints one JSON line when every replica is ready, then
one per applied release: ``{"client": i, "release": r, "at": unix time, "cpu": seconds}``
(taken when the release has been committed in the replica; ``cpu``: the process's CPU so
far, threads that ended included, as in the ready line). Stops when stdin closes.

    python bench/sync_fanout_worker.py --from URL --dir DIR --clients 50 --first 0
    python bench/sync_fanout_worker.py --from URL --into DBURL --lists ""

``--into``: one replica in that database instead of SQLite files in ``--dir``;
``--lists ""``: replicas of every list (they follow the hash-chained change pages).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from registry.sync.client import ReleaseChanges, SyncClient
from registry.sync.protocol import parse_subscription

lock = threading.Lock()


def emit(data: dict[str, object]) -> None:
    """One line on stdout, whole."""
    with lock:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()


def main() -> None:
    """Start the replicas, report, stop on EOF."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="source", required=True)
    parser.add_argument("--dir")
    parser.add_argument("--into", help="one replica, in this database")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--lists", default="admin-units")
    args = parser.parse_args()
    if args.into is None and args.dir is None:
        parser.error("give --dir or --into")
    sub = parse_subscription(args.lists or None, None)
    clients: list[SyncClient] = []
    for i in range(args.first, args.first + (1 if args.into else args.clients)):
        def on_release(changes: ReleaseChanges, i: int = i) -> None:
            if not changes.bootstrap:
                emit({"client": i, "release": changes.release, "at": time.time(),
                      "cpu": time.process_time()})

        target = args.into or f"sqlite:///{Path(args.dir) / f'replica-{i}.db'}"
        client = SyncClient(args.source, target, subscription=sub, on_release=on_release,
                            retry_forever=True)
        client.pull()
        clients.append(client)
    threads = [threading.Thread(target=c.follow, kwargs={"wait": 25}, daemon=True)
               for c in clients]
    for thread in threads:
        thread.start()
    emit({"ready": len(clients), "cpu": time.process_time()})
    sys.stdin.read()
    for client in clients:
        client.shutdown()
    for thread in threads:
        thread.join(10)


if __name__ == "__main__":
    main()
