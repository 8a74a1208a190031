"""Code conversion of a million-row CSV. Run: ``python bench/convert_bench.py``.

Loads the bundled data into a scratch SQLite file (or uses ``--db URL``), then writes a CSV
of N rows that cycle through the 10,035 pre-reform commune codes, with an id, a person's
name and a note beside each code, and converts it to a file the way ``registry convert
FILE --code-column ma_xa --out OUT`` does (read → convert → write, through
:func:`registry.importers.convert_command.run_conversion`).

Every measurement runs in a fresh process, so that its peak resident memory is its own:

* ``convert``: the command's code path, the gazetteer loaded once beforehand (its load time
  is printed apart);
* ``baseline``: ``csv.reader`` → ``csv.writer`` copying the same file, adding the same
  eleven cells from one dict lookup per row (answers computed before the clock starts);
* ``cli``: the whole command in a subprocess (interpreter start, imports, database read,
  conversion), 1M rows only.

Target from the issue: 1,000,000 rows in under 10 s, memory flat in the number of rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 10.0
SIZES = (100_000, 1_000_000)
NAMES = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thu Dung",
         "Hoàng Minh Đức", "Vũ Thị Hạnh", "Đặng Quốc Huy", "Bùi Ngọc Lan")
NOTES = ("hồ sơ đất đai", "đăng ký kinh doanh", "", "cấp lại căn cước",
         "chuyển hộ khẩu, \"khẩn\"")


def peak_mb() -> float:
    """This process's peak resident memory.

    On Linux from VmHWM: ``ru_maxrss`` survives ``exec`` and would report the parent's
    peak at fork time (the parent has held a gazetteer and generated the input).
    """
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # macOS bytes, else KiB
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def build_database(work: Path) -> str:
    """A scratch SQLite registry with the bundled data."""
    from registry.db import make_engine
    from registry.importers.bundled_load import load_bundled_data
    from registry.migrate import upgrade

    url = f"sqlite:///{work / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_bundled_data(engine)
    engine.dispose()
    return url


def load(url: str) -> Any:
    from registry.db import make_engine, session_factory, transaction
    from registry.services.conversion import load_gazetteer

    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        gazetteer = load_gazetteer(session)
    engine.dispose()
    return gazetteer


def commune_codes(url: str) -> list[str]:
    gazetteer = load(url)
    return sorted(code for code, unit in gazetteer.old.items() if unit.level == "commune")


def write_input(path: Path, rows: int, codes: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(("ma_ho_so", "ho_ten", "ma_xa", "ghi_chu"))
        writer.writerows((f"HS{i:08d}", NAMES[i % len(NAMES)], codes[i % len(codes)],
                          NOTES[i % len(NOTES)]) for i in range(rows))


def child_convert(url: str, source: Path, target: Path) -> dict[str, Any]:
    from registry.importers.convert_command import Columns, Output, run_conversion

    start = time.perf_counter()
    gazetteer = load(url)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    summary, _ = run_conversion(source, lambda: gazetteer, Columns(code="ma_xa"),
                                Output(target, "csv"))
    return {"seconds": time.perf_counter() - start, "load": loaded, "rows": summary.rows,
            "counts": summary.counts, "peak_mb": peak_mb()}


def child_baseline(url: str, source: Path, target: Path) -> dict[str, Any]:
    from registry.services.conversion.rows import ADDED_COLUMNS, added_cells

    gazetteer = load(url)
    codes = [c for c, u in gazetteer.old.items() if u.level == "commune"]
    answers = {c: list(added_cells(gazetteer.convert_code(c), gazetteer.release))
               for c in codes}
    start = time.perf_counter()
    rows = 0
    with source.open(encoding="utf-8", newline="") as read, \
            target.open("w", encoding="utf-8", newline="") as write:
        reader = csv.reader(read)
        writer = csv.writer(write, lineterminator="\n")
        header = next(reader)
        writer.writerow([*header, *ADDED_COLUMNS])
        for row in reader:
            row += answers[row[2]]
            writer.writerow(row)
            rows += 1
    return {"seconds": time.perf_counter() - start, "rows": rows, "peak_mb": peak_mb()}


def in_child(kind: str, url: str, source: Path, target: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--db", url,
                           str(source), str(target)], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def cli_run(url: str, source: Path, target: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "registry", "convert", str(source),
                           "--code-column", "ma_xa", "--out", str(target)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "REGISTRY_DATABASE_URL": url})
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"registry convert failed:\n{done.stderr}")
    return elapsed, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="a registry with the bundled data (default: build one "
                                     "in a scratch SQLite file)")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="row counts, comma-separated")
    parser.add_argument("--child", choices=("convert", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        work = child_convert if args.child == "convert" else child_baseline
        print(json.dumps(work(args.db, Path(args.paths[0]), Path(args.paths[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="convert-bench-") as scratch:
        work = Path(scratch)
        if args.db:
            url = args.db
        else:
            start = time.perf_counter()
            url = build_database(work)
            print(f"scratch registry with the bundled data: {time.perf_counter() - start:.1f} s")
        codes = commune_codes(url)
        print(f"{len(codes):,} pre-reform commune codes; rows cycle through them\n")
        print(f"{'rows':>10} {'what':<9} {'seconds':>8} {'rows/s':>11} {'peak MB':>8} "
              f"{'vs baseline':>11}")
        sizes = [int(s) for s in args.sizes.split(",")]
        results: dict[int, dict[str, Any]] = {}
        for rows in sizes:
            source = work / f"in-{rows}.csv"
            write_input(source, rows, codes)
            ours = in_child("convert", url, source, work / f"out-{rows}.csv")
            base = in_child("baseline", url, source, work / f"base-{rows}.csv")
            assert ours["rows"] == base["rows"] == rows, (ours, base)
            results[rows] = ours
            ratio = ours["seconds"] / base["seconds"]
            print(f"{rows:>10,} {'convert':<9} {ours['seconds']:>8.2f} "
                  f"{rows / ours['seconds']:>11,.0f} {ours['peak_mb']:>8.0f} {ratio:>10.2f}×")
            print(f"{'':>10} {'baseline':<9} {base['seconds']:>8.2f} "
                  f"{rows / base['seconds']:>11,.0f} {base['peak_mb']:>8.0f}")
            print(f"{'':>10} (gazetteer load {ours['load']:.2f} s; input "
                  f"{source.stat().st_size / 1e6:.0f} MB; {ours['counts']})")
            same = (work / f"out-{rows}.csv").read_bytes() == \
                (work / f"base-{rows}.csv").read_bytes()
            print(f"{'':>10} output identical to the baseline's: {same}")
        largest = max(sizes)
        elapsed, summary = cli_run(url, work / f"in-{largest}.csv", work / "cli.csv")
        print(f"\n{largest:>10,} rows through 'registry convert' in a subprocess "
              f"(start, imports, database, conversion): {elapsed:.2f} s")
        print("  " + summary.strip().splitlines()[0])
        if len(sizes) > 1:
            small, big = min(sizes), largest
            growth = results[big]["peak_mb"] - results[small]["peak_mb"]
            print(f"peak memory {results[small]['peak_mb']:.0f} MB at {small:,} rows, "
                  f"{results[big]['peak_mb']:.0f} MB at {big:,} rows ({growth:+.0f} MB)")
        verdict = "meets" if results[largest]["seconds"] < TARGET_SECONDS and \
            elapsed < TARGET_SECONDS else "MISSES"
        print(f"target: {largest:,} rows < {TARGET_SECONDS:.0f} s — {verdict}")


if __name__ == "__main__":
    main()
