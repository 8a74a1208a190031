"""The test suite then and now, on this machine: the suite of an earlier commit against the
same tests in this checkout, interleaved, and this checkout's whole suite.

    python bench/suite_bench.py [--baseline 3844e5c] [--rounds 3] [--no-full]

The baseline commit is checked out into a scratch directory with a virtual environment of
its own (``pip install -e '.[test]'``); its tests are collected, and this checkout runs the
ones that still exist under the same node id (a test that was parametrised since counts
with all its cases). Each round runs the baseline's whole suite, then this checkout's
share of it, one after the other, with ``python -m pytest -q -p no:cacheprovider`` as the
README says; each run is timed by the wall clock and by the machine's busy time (user,
system, irq and softirq from ``/proc/stat``, so every process counts: the tests, their
children, the databases and the browser). A failing run stops the bench.

The default baseline, 3844e5c, is the commit at which the suite was found too slow: its
1,075 tests ran in one process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider"]


def busy_seconds() -> float:
    """Seconds the machine's CPUs were busy since boot."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (1, 2, 3, 6, 7)) / ticks


def timed(python: Path, cwd: Path, extra: list[str], log: Path) -> tuple[float, float]:
    """Run the suite; (wall seconds, busy seconds). Raise on a failing run."""
    busy, started = busy_seconds(), time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run([str(python), *PYTEST, *extra], cwd=cwd, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    wall, spent = time.perf_counter() - started, busy_seconds() - busy
    if done.returncode != 0:
        # The scratch directory, log included, is removed on the way out: show its end.
        tail = log.read_text(errors="replace").splitlines()[-40:]
        raise SystemExit("\n".join(tail) + f"\nerror: the run in {cwd} failed (exit "
                         f"{done.returncode}); its last lines are above")
    return wall, spent


def collect(python: Path, cwd: Path, extra: list[str]) -> list[str]:
    """Node ids of the tests a run would collect."""
    done = subprocess.run([str(python), *PYTEST, "--collect-only", *extra], cwd=cwd,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:] + "\nerror: collecting "
                         f"the tests in {cwd} failed (exit {done.returncode})")
    return [line for line in done.stdout.splitlines() if "::" in line]


def same_tests(old: list[str], new: list[str]) -> list[str]:
    """This checkout's ids of the baseline's tests: the same id, or its new cases."""
    current = set(new)
    kept = [test for test in old if test in current]
    # test[a] that became test[a-x], test[a-y]… is still the same test.
    gone = {test.split("[")[0] for test in old if test not in current}
    kept += [test for test in new if test.split("[")[0] in gone]
    return list(dict.fromkeys(kept))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="3844e5c")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-full", action="store_true",
                        help="do not run this checkout's whole suite at the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suite-bench-") as scratch_name:
        scratch = Path(scratch_name)
        then = scratch / "then"
        print(f"checking out {args.baseline} and installing it …", flush=True)
        subprocess.run(["git", "clone", "-q", str(HERE), str(then)], check=True)
        subprocess.run(["git", "checkout", "-q", args.baseline], cwd=then, check=True)
        subprocess.run([sys.executable, "-m", "venv", str(then / ".venv")], check=True)
        old_python = then / ".venv" / "bin" / "python"
        subprocess.run([str(old_python), "-m", "pip", "install", "-q", "-e", ".[test]"],
                       cwd=then, check=True)
        old_ids = collect(old_python, then, [])
        ids = same_tests(old_ids, collect(Path(sys.executable), HERE, ["-n", "0"]))
        id_file = scratch / "same-tests.txt"
        id_file.write_text("\n".join(ids) + "\n")
        print(f"{args.baseline}: {len(old_ids)} tests; this checkout runs {len(ids)} of "
              "them under the same id", flush=True)
        rows: list[tuple[float, float, float, float]] = []
        for round_ in range(1, args.rounds + 1):
            old = timed(old_python, then, [], scratch / f"then-{round_}.log")
            new = timed(Path(sys.executable), HERE, [f"@{id_file}"],
                        scratch / f"now-{round_}.log")
            rows.append((*old, *new))
            print(f"round {round_}: then {old[0]:.1f} s (busy {old[1]:.0f} s), now "
                  f"{new[0]:.1f} s (busy {new[1]:.0f} s): {old[0] / new[0]:.2f}×", flush=True)
        then_wall = statistics.median(row[0] for row in rows)
        now_wall = statistics.median(row[2] for row in rows)
        print(f"\nmedian of {args.rounds} rounds, the baseline's {len(ids)} tests: "
              f"{then_wall:.1f} s then, {now_wall:.1f} s now, "
              f"{then_wall / now_wall:.2f}× faster (ratios per round: "
              + ", ".join(f"{row[0] / row[2]:.2f}" for row in rows) + ")")
        if not args.no_full:
            total = len(collect(Path(sys.executable), HERE, ["-n", "0"]))
            wall, spent = timed(Path(sys.executable), HERE, [], scratch / "full.log")
            print(f"this checkout's whole suite: {total} tests in {wall:.1f} s "
                  f"(busy {spent:.0f} s)")


if __name__ == "__main__":
    main()
