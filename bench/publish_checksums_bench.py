"""What keeping checksums at publish time costs a publisher. Run:
``python bench/publish_checksums_bench.py [--ops N] [--rounds R]``.

On a scratch PostgreSQL database, publishes releases of N creates (default 10,000),
alternating releases that keep their lists' checksums (as the registry does) with releases
whose checksum step is skipped (the baseline, the registry before it kept them), R rounds
of each (default 3), and prints the medians and their ratio. The skipped releases leave
the scratch database's kept sums stale; it is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgtools import DEFAULT_SERVER, drop_pg, fresh_pg

import registry.services.releases as releases
from registry.db import make_engine, session_factory, transaction
from registry.migrate import upgrade
from tests.factories import publish


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    keep = releases.record_release
    url = fresh_pg(args.pg)
    engine = make_engine(url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            publish(session, [{"op": "create", "list": "admin-units", "code": "01",
                               "name": "Thành phố Hà Nội", "type": "Thành phố Trung ương"}])
        times: dict[str, list[float]] = {"kept": [], "skipped": []}
        made = 0
        for _ in range(args.rounds):
            for mode in ("kept", "skipped"):
                releases.record_release = keep if mode == "kept" else (  # type: ignore[assignment]
                    lambda _session, _release: None)
                ops = [{"op": "create", "list": "admin-units", "code": f"{made + i:05d}",
                        "name": f"Xã {made + i}", "type": "Xã", "parent": "01"}
                       for i in range(args.ops)]
                made += args.ops
                started = time.perf_counter()
                with transaction(sessions) as session:
                    publish(session, ops)
                times[mode].append(time.perf_counter() - started)
                print(f"  {mode}: {times[mode][-1]:.2f} s", flush=True)
    finally:
        releases.record_release = keep
        engine.dispose()
        drop_pg(args.pg, url)
    kept, skipped = (statistics.median(times[k]) for k in ("kept", "skipped"))
    print(f"publish {args.ops:,} creates: {kept:.2f} s with checksums kept, {skipped:.2f} s "
          f"without (medians of {args.rounds}): {kept / skipped:.2f}×")


if __name__ == "__main__":
    main()
