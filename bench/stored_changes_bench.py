"""A long-polling follower of a 14,000-record release, from the centre's commit to the
release being visible in its PostgreSQL replica, with the release's change pages served
as the publish stored them against built on request (``REGISTRY_SYNC_STORED_CHANGES=0``,
as before them), in one run (issue: sync at the speed of logical replication).

    python bench/stored_changes_bench.py [--versions N] [--rounds K] [--pg URL]

Two sync servers run on the same bench centre (N versions, default 200,000, built once
through the services by ``bench/sync_data.py`` and kept), one of each kind, each followed
by a replica of every list in a database of its own on the same PostgreSQL server. Each
round publishes 7,000 renames (14,000 records) twice, once per server, the order
alternating; before each publish the centre's servers have been idle for a second, and
the follower (``bench/sync_fanout_worker.py --into``, a process of its own, the only one
following at that moment) is long-polling. Printed: every release's time, then the
medians, minima and their ratio.

Nothing is timed in the test suite: these machines are noisy, so compare within a run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sync_bench import follower_sees, free_port, settle, start_server
from sync_data import build, rename_items

from registry.db import make_engine, session_factory
from registry.migrate import upgrade
from registry.models import EntryVersion

HERE = Path(__file__).resolve().parent
NAME = "registry_stored_changes_bench"
RENAMES = 7_000
COMMITS: list[float] = []  # wall time of every ORM commit in this process


def latest(url: str) -> date:
    """The latest ``valid_from`` at the centre: the next renames start the day after."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            found: date = session.scalar(select(func.max(EntryVersion.valid_from)))
            return found
    finally:
        engine.dispose()


def follow_one(base: str, replica: str, url: str, start: int) -> float:
    """Seconds from the commit of a release of renames to its being committed in the
    replica of a follower of ``base`` long-polling for it."""
    def publish() -> tuple[int, float]:
        COMMITS.clear()
        release = rename_items(url, start, RENAMES, latest(url) + timedelta(days=1),
                               f"renames from {start}")
        return release, COMMITS[-1]

    return follower_sees(base, replica, publish)


def main() -> None:
    """Build, follow in alternating rounds, report, drop the replicas."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=200_000,
                        help="entry versions in the centre (default 200,000)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds (default 6)")
    parser.add_argument("--pg", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    if args.versions < 2 * RENAMES:
        parser.error(f"--versions must be at least {2 * RENAMES:,}")
    url = build(args.versions, server=args.pg, name=NAME)
    engine = make_engine(url)
    upgrade(engine)  # a centre kept from before the change_pages table
    engine.dispose()
    event.listen(Session, "after_commit", lambda _session: COMMITS.append(time.time()))
    kinds = {"stored": "1", "built": "0"}
    servers: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for kind, flag in kinds.items():
            port = free_port()
            os.environ["REGISTRY_SYNC_STORED_CHANGES"] = flag
            servers[kind] = (start_server(url, port), f"http://127.0.0.1:{port}",
                             fresh_pg(args.pg))
        os.environ.pop("REGISTRY_SYNC_STORED_CHANGES")
        processes = [server for server, _base, _replica in servers.values()]
        start = 0
        for r in range(args.rounds):
            for kind in (list(kinds) if r % 2 == 0 else list(kinds)[::-1]):
                _server, base, replica = servers[kind]
                settle(*processes)
                seconds = follow_one(base, replica, url, start)
                times[kind].append(seconds)
                start = (start + RENAMES) % (args.versions - RENAMES)
                print(f"round {r + 1}, pages {kind}: commit → visible {seconds:.3f} s",
                      flush=True)
    finally:
        for server, _base, replica in servers.values():
            server.terminate()
            server.wait(30)
            drop_pg(args.pg, replica)
    stored, built = times["stored"], times["built"]
    print(f"\n{args.versions:,} versions at the centre, {len(stored)} releases of "
          f"{2 * RENAMES:,} records each way, a long-polling follower into PostgreSQL:")
    for kind, values in times.items():
        print(f"  pages {kind:>6}: median {statistics.median(values) * 1000:.0f} ms, "
              f"min {min(values) * 1000:.0f} ms "
              f"({', '.join(f'{v * 1000:.0f}' for v in values)})")
    print(f"  stored ÷ built: {statistics.median(stored) / statistics.median(built):.2f} "
          f"(medians), {min(stored) / min(built):.2f} (minima)")


if __name__ == "__main__":
    main()
