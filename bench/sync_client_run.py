"""One client run for the sync benchmark, in a process of its own so that its peak memory
is its own: pull from a centre into a target, then print a JSON line of figures.

    python bench/sync_client_run.py --from URL --into DBURL [--lists a,b]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from registry.sync.client import SyncClient
from registry.sync.protocol import parse_subscription


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the
    parent across exec)."""
    for line in open("/proc/self/status", encoding="ascii"):  # noqa: SIM115 (read at once)
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Run one pull and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="source", required=True)
    parser.add_argument("--into", required=True)
    parser.add_argument("--lists")
    args = parser.parse_args()
    sub = parse_subscription(args.lists, None) if args.lists else None
    client = SyncClient(args.source, args.into, subscription=sub)
    started = time.perf_counter()
    result = client.pull()
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": seconds, "records": result.records, "releases": result.releases,
        "bootstrapped": result.bootstrapped, "release": result.release,
        "bytes": client.transport.bytes_received,
        "max_rss_mb": peak_rss_mb(),
    }))
    client.close()


if __name__ == "__main__":
    main()
