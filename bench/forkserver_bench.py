"""What the tests' fork server saves per Python child: N runs of the same commands through
it and as fresh interpreters, interleaved, on this machine.

    python bench/forkserver_bench.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import processes

COMMANDS = {
    "registry --help": ["-m", "registry", "--help"],
    "registry lists (missing database)": ["-m", "registry", "lists", "--db", "none.db"],
    "python -c pass": ["-c", "pass"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as scratch:
        processes.run([sys.executable, "-c", "pass"])  # the server is up before timing
        print(f"median of {runs} interleaved runs, wall seconds")
        print(f"{'command':38} {'fresh':>8} {'forked':>8} {'ratio':>7}")
        for name, args in COMMANDS.items():
            fresh: list[float] = []
            forked: list[float] = []
            for _ in range(runs):
                for run, into in ((subprocess.run, fresh), (processes.run, forked)):
                    started = time.perf_counter()
                    run([sys.executable, *args], capture_output=True, cwd=scratch)
                    into.append(time.perf_counter() - started)
            a, b = statistics.median(fresh), statistics.median(forked)
            print(f"{name:38} {a:8.3f} {b:8.3f} {a / b:6.1f}×")


if __name__ == "__main__":
    main()
