"""What starting the ``registry`` command line costs. Run:
``python bench/cli_startup.py [--db FILE] [-n N]``.

Runs each command N times (default 5) as its own process, as a user or a test does, and
prints the median wall time and the median user CPU of the process. Without ``--db`` it
first loads the demo into a scratch SQLite file (``registry demo --no-serve``, some
seconds), for the commands that read a database.

The baselines, measured in the same run:

* ``python -c pass``: the interpreter alone, the floor of any command;
* a typer app of two trivial commands, asked for ``--help``: the floor of any help page
  (typer and rich, which draw it);
* every command assembled eagerly: every interface's command module imported and its
  commands built, as the command line did at each start before it loaded only the command
  it runs (a floor for that old cost: some modules now import their services inside the
  commands, so importing them costs less than it did).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every interface's commands imported and assembled at once, as ``registry`` did at each
# start before it loaded only the command it runs.
EAGER = """
import typer, typer.main
from registry.cli.commands import INTERFACES
from registry.cli.group import add_database_options, register
app = typer.Typer()
for spec in INTERFACES:
    register(app, spec)
add_database_options(app)
typer.main.get_group(app)
"""

TYPER_FLOOR = '''
import typer
app = typer.Typer()
@app.command()
def one(flag: bool = False) -> None:
    """A command."""
@app.command()
def two(flag: bool = False) -> None:
    """Another command."""
app(prog_name="floor")
'''


def _registry() -> list[str]:
    """The console script beside this interpreter, else ``python -m registry``."""
    script = Path(sys.executable).parent / "registry"
    if script.exists():
        return [str(script)]
    found = shutil.which("registry")
    return [found] if found else [sys.executable, "-m", "registry"]


def _run(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, user CPU seconds and exit status of one run of ``argv``."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime, child.returncode


def measure(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall and median user CPU of ``runs`` runs (after one untimed warm-up run)."""
    _, _, code = _run(argv)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {code}")
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, _ = _run(argv)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def _demo_db(directory: str) -> str:
    path = str(Path(directory) / "demo.db")
    subprocess.run([*_registry(), "demo", "--db", path, "--no-serve"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return path


def main() -> None:
    """Measure every command and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="A registry database with the demo's data (SQLite file "
                        "or URL); default: a scratch copy of the demo, loaded first.")
    parser.add_argument("-n", "--runs", type=int, default=5, help="Runs per command.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as scratch:
        db = args.db or _demo_db(scratch)
        registry = _registry()
        cases = [
            ("baseline: python -c pass", [sys.executable, "-c", "pass"]),
            ("baseline: a trivial typer app's --help",
             [sys.executable, "-c", TYPER_FLOOR, "--help"]),
            ("baseline: every command assembled eagerly", [sys.executable, "-c", EAGER]),
            ("registry --help", [*registry, "--help"]),
            ("registry lists --db DB", [*registry, "lists", "--db", db]),
            ("registry resolve admin-units 00013 --as-of 2025-07-01 --db DB",
             [*registry, "resolve", "admin-units", "00013", "--as-of", "2025-07-01",
              "--db", db]),
            ("registry sync pull --help", [*registry, "sync", "pull", "--help"]),
        ]
        print(f"median of {args.runs} runs; wall and user CPU in seconds")
        width = max(len(name) for name, _ in cases)
        print(f"{'command':{width}}  {'wall':>6}  {'CPU':>6}")
        for name, argv in cases:
            wall, cpu = measure(argv, args.runs)
            print(f"{name:{width}}  {wall:6.3f}  {cpu:6.3f}", flush=True)


if __name__ == "__main__":
    main()
