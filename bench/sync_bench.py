"""Sync benchmark (issue: sync). Run: ``python bench/sync_bench.py [--versions N] [--clients N]``.

Every figure is printed beside its target and beside a floor measured in the same run on
the same machine, so a slow machine shows as a slow floor, not as a slow protocol:

* **Bootstrap**: N entry versions (default 1,000,000) from a PostgreSQL centre into a new
  SQLite file over loopback, end to end, with the client's peak memory (it runs in a
  process of its own). Floors: the raw ``executemany`` rate of the same rows into the same
  file, and the raw rate of reading them from PostgreSQL.
* **Bytes**: bytes on the wire for that bootstrap beside a gzip (level 6) of a plain CSV of
  the same records.
* **Incremental**: one release the size of the 2025 reform (~14,000 records) applied to
  the SQLite replica and to a PostgreSQL replica. Floor: fetching and verifying the same
  pages without applying them.
* **Repeated bootstraps**: the server's CPU time for walking every page of the same
  release's snapshot, the first time (pages built and stored) and the Nth (default 50th,
  from memory), then once more after a server restart (pages read back from the
  database). Target: the Nth ≤ 5% of the first.
* **Fan-out**: C following clients (default 200, in 4 processes) on one server; the time
  from a release's commit at the centre to its being applied in each replica (p50, p99).
  Floor: the same number of bare long polls on the head, woken by a release.

The bench centre database is built once through the services (``bench/sync_data.py``)
and kept for later runs.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy_utils import create_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pgtools import drop_pg
from proc_cpu import CpuWindow
from sync_data import PG, build, rename_items

from registry.db import make_engine, session_factory, transaction
from registry.migrate import upgrade
from registry.services.feed import read_head
from registry.sync.client import SyncClient
from registry.sync.codec import decode_header, decode_records
from registry.sync.protocol import page_of
from tests.factories import publish, unit

HERE = Path(__file__).resolve().parent
ROWS: list[tuple[str, str, str, str]] = []  # (figure, measured, target, floor)


def row(figure: str, measured: str, target: str, floor: str) -> None:
    """Record and print one line of the report."""
    ROWS.append((figure, measured, target, floor))
    print(f"  {figure}: {measured}   (target {target}; floor {floor})", flush=True)


def start_server(url: str, port: int, listen: bool = True,
                 prebuild: bool = True) -> subprocess.Popen[bytes]:
    """uvicorn on the bench centre, one worker, as ``registry serve`` would run it
    (``listen=False``: without PostgreSQL notifications, polling the head;
    ``prebuild=False``: snapshot pages built only when a replica asks)."""
    env = {**os.environ, "REGISTRY_DATABASE_URL": url,
           "REGISTRY_SYNC_LISTEN": "1" if listen else "0",
           "REGISTRY_SYNC_PREBUILD": "1" if prebuild else "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "registry.sync.app:create_sync_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/sync/v1/head", timeout=2).read()
            return process
        except OSError:
            time.sleep(0.1)
    process.terminate()  # not left running when it never answered
    process.wait(30)
    raise RuntimeError("the centre did not start")


def follower_sees(base: str, replica: str, publish: Callable[[], tuple[int, float]],
                  window: CpuWindow | None = None) -> float:
    """Seconds from a release's commit until a long-polling follower of every list
    (``bench/sync_fanout_worker.py --into replica``, a process of its own) has committed
    it. ``publish`` runs once the follower waits, and gives the release and the wall time
    of its commit. ``window``, started by ``publish``: stopped once the follower has the
    release, with the follower's own CPU as its ``sync client`` group."""
    worker = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "sync_fanout_worker.py"),
         "--from", base, "--into", replica, "--lists", ""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdin is not None
        while "ready" not in (ready := json.loads(worker.stdout.readline() or '{"ready": 0}')):
            pass
        if window is not None:
            window.add("sync client", worker.pid)
        time.sleep(0.5)  # its long poll has reached the centre
        release, committed = publish()
        while True:
            line = worker.stdout.readline()
            if not line:
                raise RuntimeError("the sync follower stopped before the release")
            seen = json.loads(line)
            if seen.get("release") == release:
                break
        if window is not None:
            window.stop()
            window.set("sync client", (seen["cpu"] - ready["cpu"]) * 1000)
        worker.stdin.close()
        worker.wait(60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    return float(seen["at"]) - committed


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bootstrap(base: str, target: str) -> dict[str, Any]:
    """One bootstrap in a child process; its JSON figures."""
    done = subprocess.run([sys.executable, str(HERE / "sync_client_run.py"), "--from", base,
                           "--into", target], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def raw_insert_rate(path: Path) -> float:
    """Rows per second of a plain executemany of the replica's rows into a table with the
    same columns and indexes, in the same file."""
    source = sqlite3.connect(path)
    sink = sqlite3.connect(path)
    sink.execute("DROP TABLE IF EXISTS floor_versions")
    sink.execute("CREATE TABLE floor_versions AS SELECT * FROM registry_versions WHERE 0")
    sink.execute("CREATE UNIQUE INDEX floor_pk ON floor_versions (list_key, code, valid_from)")
    sink.execute("CREATE INDEX floor_parent ON floor_versions (list_key, parent_code)")
    sink.execute("PRAGMA cache_size = -65536")
    cursor = source.execute("SELECT * FROM registry_versions")
    spent, total = 0.0, 0
    sink.execute("BEGIN")
    while rows := cursor.fetchmany(20000):
        started = time.perf_counter()
        sink.executemany(f"INSERT INTO floor_versions VALUES ({','.join('?' * 14)})", rows)
        spent += time.perf_counter() - started
        total += len(rows)
    started = time.perf_counter()
    sink.commit()
    spent += time.perf_counter() - started
    sink.execute("DROP TABLE floor_versions")
    sink.commit()
    source.close()
    sink.close()
    return total / spent


def imported_rss() -> float:
    """Peak memory (MB) of a Python process that imports the client and does nothing."""
    done = subprocess.run([sys.executable, "-c", "import registry.sync.client; from "
                           "sync_client_run import peak_rss_mb; print(peak_rss_mb())"],
                          capture_output=True, text=True, check=True, cwd=HERE)
    return float(done.stdout)


def raw_read_rate(url: str) -> float:
    """Rows per second of reading every bench version from PostgreSQL with psycopg."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        started = time.perf_counter()
        total = 0
        with conn.cursor(name="floor") as cursor:
            cursor.itersize = 20000
            cursor.execute("SELECT v.* FROM entry_versions v JOIN code_lists c ON "
                           "c.id = v.list_id WHERE c.key = 'bench-items' AND "
                           "v.superseded_release IS NULL")
            for _ in cursor:
                total += 1
        return total / (time.perf_counter() - started)


def csv_gzip_size(path: Path) -> int:
    """gzip -6 of a plain CSV of the replica's records."""
    source = sqlite3.connect(path)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6) as zipped, \
            io.TextIOWrapper(zipped, encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for record in source.execute("SELECT * FROM registry_versions"):
            writer.writerow(["" if v is None else v for v in record])
        for record in source.execute("SELECT * FROM registry_lineage"):
            writer.writerow(["" if v is None else v for v in record])
    source.close()
    return len(buffer.getvalue())


def fetch_only(base: str, after_seq: int, head_seq: int, page_size: int, epoch: str) -> float:
    """Seconds to fetch, decode and hash-verify the change pages after ``after_seq``."""
    from registry.services.feed import canonical_json, chain_hash
    from registry.sync.transport import Transport

    transport = Transport(base)
    started = time.perf_counter()
    for page in range(page_of(after_seq + 1, page_size), page_of(head_seq, page_size) + 1):
        body = transport.get(f"/sync/v1/changes/{epoch}/{page_size}/{page}").body
        header, rest = decode_header(body, "page")
        digest = header["prev"]
        for record in decode_records(header, rest, "page"):
            digest = chain_hash(digest, canonical_json(record))
    transport.close()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def long_poll_floor(base: str, clients: int, publish_one: Any) -> list[float]:
    """Wake-up delays of bare long polls on the head after a publish."""
    head = json.loads(urllib.request.urlopen(f"{base}/sync/v1/head").read())
    woken: list[float] = []

    def poll() -> None:
        urllib.request.urlopen(f"{base}/sync/v1/head?wait=30&after={head['seq']}",
                               timeout=60).read()
        woken.append(time.time())

    threads = [threading.Thread(target=poll) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    committed = publish_one()
    for thread in threads:
        thread.join(60)
    return [t - committed for t in woken]


def fan_out(base: str, clients: int, processes: int, workdir: Path, publish_one: Any,
            releases: int) -> list[float]:
    """Publish-to-applied delays over ``releases`` releases for ``clients`` followers."""
    per = clients // processes
    workers = []
    for p in range(processes):
        workers.append(subprocess.Popen(
            [sys.executable, str(HERE / "sync_fanout_worker.py"), "--from", base, "--dir",
             str(workdir), "--clients", str(per), "--first", str(p * per)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    applied: dict[int, list[float]] = {}
    lock = threading.Lock()

    def read(worker: subprocess.Popen[str]) -> None:
        assert worker.stdout is not None
        for line in worker.stdout:
            data = json.loads(line)
            if "release" in data:
                with lock:
                    applied.setdefault(data["release"], []).append(data["at"])

    ready = 0
    for worker in workers:
        assert worker.stdout is not None
        ready += json.loads(worker.stdout.readline())["ready"]
        threading.Thread(target=read, args=(worker,), daemon=True).start()
    delays: list[float] = []
    for _ in range(releases):
        time.sleep(2)
        release, committed = publish_one(with_release=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            with lock:
                if len(applied.get(release, [])) >= ready:
                    break
            time.sleep(0.05)
        with lock:
            got = applied.get(release, [])
            delays.extend(t - committed for t in got)
            missing = ready - len(got)
        if missing:
            print(f"  warning: {missing} replicas did not apply release {release} in 30 s")
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.close()
    for worker in workers:
        worker.wait(60)
    return delays


def server_cpu(process: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(*servers: subprocess.Popen[bytes], most: float = 300.0) -> float:
    """Wait until the centre's server processes have been idle for a second (under 20 ms
    of CPU together): after a release each walks the release's whole snapshot in the
    background for later bootstraps (seconds of CPU for a million versions), which would
    otherwise run into the next measurement and slow it at random. Seconds waited."""
    started = time.perf_counter()
    used, idle_since = sum(map(server_cpu, servers)), time.perf_counter()
    while time.perf_counter() - started < most:
        time.sleep(0.25)
        now = sum(map(server_cpu, servers))
        if now - used > 0.02:
            used, idle_since = now, time.perf_counter()
        elif time.perf_counter() - idle_since >= 1.0:
            break
    return time.perf_counter() - started


def walk_snapshot(base: str) -> int:
    """Fetch every page of the head release's snapshot as a replica would (gzip); bytes."""
    head = json.loads(urllib.request.urlopen(f"{base}/sync/v1/head", timeout=60).read())
    token, size = "", 0
    while True:
        url = f"{base}/sync/v1/snapshot/{head['epoch']}/{head['release']}"
        request = urllib.request.Request(url + (f"?after={token}" if token else ""),
                                         headers={"Accept-Encoding": "gzip"})
        body = urllib.request.urlopen(request, timeout=600).read()
        size += len(body)
        token = json.loads(gzip.decompress(body).split(b"\n", 1)[0])["next"]
        if not token:
            return size


def forget_snapshot_pages(url: str, port: int, server: subprocess.Popen[bytes],
                          prebuild: bool = False) -> subprocess.Popen[bytes]:
    """Drop the stored snapshot pages and restart the server (empty memory): the next
    bootstrap is the release's first (by default with the server's building ahead off,
    so that the pages are built as replicas ask). Returns the running server."""
    with make_engine(url).begin() as conn:
        conn.execute(text("DELETE FROM snapshot_pages"))
    server.terminate()
    server.wait(30)
    return start_server(url, port, prebuild=prebuild)


def wait_for_prebuild(url: str, started: float) -> float:
    """Seconds from ``started`` until the server has stored the head release's snapshot
    (the count of stored pages has stopped growing for a second)."""
    engine = make_engine(url)
    count, since, last_change = -1, time.perf_counter(), time.perf_counter()
    try:
        while time.perf_counter() - since < 600:
            with engine.connect() as conn:
                now = conn.execute(text("SELECT count(*) FROM snapshot_pages")).scalar_one()
            if now != count:
                count, last_change = now, time.perf_counter()
            elif count > 0 and time.perf_counter() - last_change > 1.0:
                return last_change - started
            time.sleep(0.05)
        raise RuntimeError("the server did not build the snapshot ahead")
    finally:
        engine.dispose()


def repeated_bootstraps(url: str, port: int, server: subprocess.Popen[bytes], times: int
                        ) -> subprocess.Popen[bytes]:
    """Server CPU of ``times`` snapshot walks of one release by one server process, then of
    one more walk after a restart (stored pages, not memory). Returns the running server."""
    base = f"http://127.0.0.1:{port}"
    server = forget_snapshot_pages(url, port, server)  # the first walk builds every page
    costs = []
    for _ in range(times + 1):
        if len(costs) == times:
            server.terminate()
            server.wait(30)
            server = start_server(url, port, prebuild=False)
        before = server_cpu(server)
        walk_snapshot(base)
        costs.append(server_cpu(server) - before)
    first, last, restarted = costs[0], costs[times - 1], costs[times]
    row(f"repeated bootstraps, server CPU of the {times}th ÷ the first",
        f"{last / first:.1%} ({last:.2f} s vs {first:.2f} s)", "≤ 5%",
        f"the 2nd {costs[1]:.2f} s; after a server restart (pages read back from the "
        f"database) {restarted:.2f} s = {restarted / first:.1%}")
    return server


def main() -> None:
    """Run every scenario and print the report."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--pg", default=PG, help="PostgreSQL server URL (no database)")
    parser.add_argument("--fanout-only", action="store_true", help="run the fan-out only")
    parser.add_argument("--repeat", type=int, default=50,
                        help="snapshot walks in the repeated-bootstrap figure (default 50)")
    parser.add_argument("--repeat-only", action="store_true",
                        help="run the repeated-bootstrap figure only")
    args = parser.parse_args()

    print(f"building the centre ({args.versions:,} versions; kept between runs)…", flush=True)
    url = build(args.versions, server=args.pg)
    engine = make_engine(url)
    upgrade(engine)  # a centre kept from an earlier run may predate a migration
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    sessions = session_factory(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, port)
    work = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    pg_replica = f"registry_sync_bench_replica_{os.getpid()}"
    try:
        if args.repeat_only:
            print(f"repeated bootstraps: {args.repeat} snapshot walks…", flush=True)
            server = repeated_bootstraps(url, port, server, max(args.repeat, 3))
        elif not args.fanout_only:
            print("bootstrap into SQLite, the release's first replica…", flush=True)
            server = forget_snapshot_pages(url, port, server)
            cold_path = work / "first.db"
            cold = bootstrap(base, f"sqlite:///{cold_path}")
            cold_path.unlink()
            print("bootstrap into SQLite, the release's first replica, after the centre "
                  "built the snapshot ahead…", flush=True)
            started = time.perf_counter()
            server = forget_snapshot_pages(url, port, server, prebuild=True)
            prebuilt_in = wait_for_prebuild(url, started)
            ahead_path = work / "first-ahead.db"
            ahead = bootstrap(base, f"sqlite:///{ahead_path}")
            ahead_path.unlink()
            print("bootstrap into SQLite, a later replica…", flush=True)
            sqlite_path = work / "replica.db"
            figures = bootstrap(base, f"sqlite:///{sqlite_path}")
            rate = figures["records"] / figures["seconds"]
            floor_rate = raw_insert_rate(sqlite_path)
            row("bootstrap, records/s end to end (a later replica: pages stored)",
                f"{rate:,.0f} ({figures['records']:,} in {figures['seconds']:.1f} s; "
                f"{floor_rate / rate:.2f}× the floor's time)", "≥ 50,000; ≤ 1.5× the floor",
                f"raw executemany into the same file {floor_rate:,.0f}/s; "
                f"raw PostgreSQL read {raw_read_rate(url):,.0f}/s")
            cold_rate = cold["records"] / cold["seconds"]
            row("bootstrap, records/s end to end (the release's first replica: pages built)",
                f"{cold_rate:,.0f} ({cold['seconds']:.1f} s; {floor_rate / cold_rate:.2f}× the "
                "floor's time)", "≤ 1.5× the floor", "as above")
            ahead_rate = ahead["records"] / ahead["seconds"]
            row("bootstrap, records/s end to end (the release's first replica, after the "
                "centre built its snapshot ahead)",
                f"{ahead_rate:,.0f} ({ahead['seconds']:.1f} s; {floor_rate / ahead_rate:.2f}× "
                "the floor's time)", "≤ 1.5× the floor",
                f"the server started building at its first head request and had stored every "
                f"page {prebuilt_in:.1f} s later")
            row("bootstrap, client peak memory", f"{figures['max_rss_mb']:.0f} MB",
                "< 300 MB", f"a process that only imports the client {imported_rss():.0f} MB")
            csv_size = csv_gzip_size(sqlite_path)
            row("bootstrap, bytes on the wire", f"{figures['bytes']:,} "
                f"({figures['bytes'] / csv_size:.2f}× the CSV)", "≤ 1.5× gzip of a CSV",
                f"gzip -6 of a plain CSV of the same records {csv_size:,}")

            print("bootstrap into PostgreSQL…", flush=True)
            pg_target = f"{args.pg}/{pg_replica}"
            drop_pg(args.pg, pg_target)
            create_database(pg_target)
            pg_figures = bootstrap(base, pg_target)
            row("bootstrap into PostgreSQL, records/s",
                f"{pg_figures['records'] / pg_figures['seconds']:,.0f}", "(no target)", "—")

            print(f"repeated bootstraps: {args.repeat} snapshot walks…", flush=True)
            server = repeated_bootstraps(url, port, server, max(args.repeat, 3))

            print("incremental: a release of ~14,000 records…", flush=True)
            with sessions() as session:
                before = read_head(session)
            shift = before.release
            with engine.connect() as conn:  # each run renames again, a day after the last time
                latest = conn.execute(text("SELECT max(valid_from) FROM entry_versions "
                                           "WHERE code = '0000000'")).scalar_one()
            rename_items(url, 0, 7000, latest + timedelta(days=1), f"bench reform {shift}")
            with sessions() as session:
                after = read_head(session)
            records = after.seq - before.seq
            floor = fetch_only(base, before.seq, after.seq, 1000, after.epoch)
            for name, target in (("SQLite", f"sqlite:///{sqlite_path}"), ("PostgreSQL", pg_target)):
                client = SyncClient(base, target)
                started = time.perf_counter()
                result = client.pull()
                seconds = time.perf_counter() - started
                client.close()
                assert result.releases == 1, result
                row(f"incremental on {name}, {records:,} records", f"{seconds:.2f} s", "< 2 s",
                    f"fetch and verify the same pages without applying {floor:.2f} s")

        if not args.repeat_only:
            print(f"fan-out: {args.clients} following clients…", flush=True)
            counter = iter(range(1, 1_000_000))
            shift = int(time.time())

            def publish_one(with_release: bool = False) -> Any:
                n = next(counter)
                with transaction(sessions) as session:
                    release = publish(session, [{"op": "rename", "list": "admin-units",
                                                 "code": "01", "name": f"Hà Nội {shift}-{n}"}],
                                      "2025-01-01")
                committed = time.time()
                return (release, committed) if with_release else committed

            with transaction(sessions) as session:
                try:
                    publish(session, [unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
                except Exception:  # already there from an earlier run
                    session.rollback()
            (work / "one").mkdir()
            single = fan_out(base, 1, 1, work / "one", publish_one, 5)
            bare = long_poll_floor(base, 1, publish_one)
            server.terminate()
            server.wait(30)
            server = start_server(url, port, listen=False)
            (work / "polling").mkdir()
            polled = fan_out(base, 1, 1, work / "polling", publish_one, 5)
            server.terminate()
            server.wait(30)
            server = start_server(url, port)
            row("push latency, 1 follower (max of 5 one-record releases)",
                f"{max(single):.3f} s (median {statistics.median(single):.3f} s)", "< 0.02 s",
                f"one bare long poll woken by a release {bare[0]:.3f} s; the same follower "
                f"with the head polled, not notified: max {max(polled):.3f} s, median "
                f"{statistics.median(polled):.3f} s")
            floor_delays = long_poll_floor(base, args.clients, publish_one)
            (work / "many").mkdir()
            delays = fan_out(base, args.clients, 4, work / "many", publish_one, 5)
            row(f"fan-out, {args.clients} followers, publish→applied p99",
                f"{percentile(delays, 0.99):.2f} s (p50 {statistics.median(delays):.2f} s, "
                f"{len(delays)} samples)", "< 3 s",
                f"bare long polls woken by a release: p99 {percentile(floor_delays, 0.99):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        server.terminate()
        server.wait(30)
        engine.dispose()
        drop_pg(args.pg, f"{args.pg}/{pg_replica}")
    print("\n| figure | measured | target | floor (same run) |\n|---|---|---|---|")
    for figure, measured, target, floor_text in ROWS:
        print(f"| {figure} | {measured} | {target} | {floor_text} |")


if __name__ == "__main__":
    main()
