"""`registry sync` beside PostgreSQL logical replication, on private clusters, in one run.

Run (as root or as the ``postgres`` user; needs the PostgreSQL server binaries)::

    python bench/peer_logical.py [--versions N] [--rounds R] [--keep] [--lookup-index]

Two private clusters are made with ``initdb`` in a temporary directory and started with
``pg_ctl`` on free loopback ports (sockets in that directory): a publisher
(``wal_level = logical``) and a subscriber. The machine's own server on 5432 is not touched.
The bench centre (N entry versions, default 1,000,000, published through the services by
``bench/sync_data.py``: ~4,300 versions/s, so a million takes minutes) is built on the
publisher, which also serves sync (uvicorn, ``registry.sync.app:create_sync_app``) and
publishes ``code_lists, change_sets, releases, entry_versions, lineage_links``, the tables
a PostgreSQL team would replicate instead of running ``registry sync``.

Before the rounds, every page of the release's snapshot is fetched once in each line
encoding (COPY lines, which PostgreSQL replicas ask for, then JSON lines): a centre that
has served PostgreSQL replicas builds both for each new release as soon as it is out, so
the rounds measure replicas that find the pages stored.

What is measured, in interleaved rounds (the order of the two PostgreSQL bootstraps
alternates from round to round):

* **Bootstrap into PostgreSQL.** (a) Logical replication into a fresh subscriber database
  whose schema is the publisher's five tables from ``pg_dump -s`` without foreign keys or
  other constraints, with their primary keys and the "lean" b-trees that match a sync
  replica's (``registry/sync/local_schema.py``: a replica has primary keys plus a parent
  index on its versions and a ``to`` index on its lineage, so the subscriber gets
  ``ix_entry_versions_parent`` and ``ix_lineage_links_to``; ``--lookup-index`` adds the
  code lookup and ``from`` b-trees as well). Timed from ``CREATE SUBSCRIPTION`` until every
  table in ``pg_subscription_rel`` is ready (``r``); rows/s over the ``entry_versions``
  rows. The subscription (and with it its slot on the publisher) is dropped after each
  round, except the last round's, which is kept for the incremental figures.
  (b) ``registry sync`` bootstrap (``bench/sync_client_run.py``, a process of its own)
  into a fresh database on the same subscriber cluster; records/s.
* **Bootstrap into SQLite**: the sync bootstrap into a fresh SQLite file and, as a floor,
  a raw ``executemany`` of the same rows into the same file (``sync_bench.raw_insert_rate``).
* **Incremental**, with the last round's logical-replication subscriber and sync
  PostgreSQL replica both caught up: a release of ~14,000 records (7,000 renames, as in
  ``bench/sync_bench.py``) and a one-rename release are published on the publisher. For
  logical replication, the time from the publisher's commit until the subscriber shows the
  new ``releases`` row (polled every 2 ms from a thread started before the publish). For
  sync, ``SyncClient.pull()`` is then run and timed (the pull starts after the subscriber
  has the release, so the two do not compete for the CPU; the client has pulled once
  beforehand, as a following replica would have). Before each publish, the bench waits
  until the centre's server has been idle for a second: after every release it walks the
  new release's whole snapshot for later bootstraps (seconds of CPU at a million
  versions), and back-to-back rounds would otherwise run into that walk, logical
  replication as much as sync.
* **Incremental, each alone, commit → visible**: the same two kinds of release, published
  while a sync follower of every list long-polls the centre (``bench/sync_fanout_worker.py
  --into``, a process of its own, on the same replica) and the logical-replication
  subscription is disabled; the time from the publisher's commit until the follower has
  committed the release. This is what a following replica sees, wake-up included, and
  it is compared with the logical-replication time above, also measured alone.

* **CPU of the large release**, in both measurements: the CPU every process used from the
  commit until the release is visible (``bench/proc_cpu.py``: per thread, in nanoseconds),
  grouped as the publisher cluster (the centre's database; logical replication's WAL
  sender), the subscriber cluster (the sync replica's server, or the apply worker), the
  centre's server, the sync follower process (its own count, threads that ended included)
  and this process (it publishes, then polls). Beside the sum: that sum ÷ (cores × wall
  time). Near 100%, the two cores are the limit, and only less CPU makes a release faster.

Every figure is printed per round, then as medians with ratios (sync ÷ peer), and at the
end as a markdown table. The clusters are stopped (``pg_ctl stop -m fast``) and their
directory removed at the end, on error and on Ctrl-C too (``--keep`` keeps the stopped
clusters' directory, logs included, for inspection).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proc_cpu import CpuWindow, postmaster_pid
from sync_bench import follower_sees, free_port, raw_insert_rate, settle, start_server
from sync_data import NAME, build, rename_items

from registry.sync.client import SyncClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from pg_cluster import Cluster, bindir, prepare_root

HERE = Path(__file__).resolve().parent
TABLES = ("code_lists", "change_sets", "releases", "entry_versions", "lineage_links")
LEAN_INDEXES = {"ix_entry_versions_parent", "ix_lineage_links_to"}
LOOKUP_INDEXES = {"ix_entry_versions_lookup", "ix_lineage_links_from"}
BUILD_RATE = 4_300  # versions/s through the services on this machine, for the estimate
COMMITS: list[float] = []  # perf_counter() of every ORM commit in this process
WALL: list[float] = []  # the same commits' wall-clock time (for another process's times)


def lean_schema(pub: Cluster, db: str, lookup: bool) -> str:
    """The published tables from ``pg_dump -s``: no foreign keys, no unique constraints
    besides the primary keys, only the b-trees that match a sync replica's indexes."""
    dump = [str(pub.bins / "pg_dump"), "-h", "127.0.0.1", "-p", str(pub.port), "-U",
            "postgres", "-s", "--no-owner", "--no-privileges",
            *[arg for table in TABLES for arg in ("-t", f"public.{table}")], db]
    pre = subprocess.run([*dump, "--section=pre-data"], capture_output=True, text=True,
                         check=True).stdout
    post = subprocess.run([*dump, "--section=post-data"], capture_output=True, text=True,
                          check=True).stdout
    wanted = LEAN_INDEXES | (LOOKUP_INDEXES if lookup else set())
    body = "\n".join(line for line in post.splitlines()
                     if line.strip() and not line.startswith(("--", "\\")))
    kept = []
    for statement in re.split(r";\s*(?:\n|$)", body):
        index = re.match(r"CREATE (?:UNIQUE )?INDEX (\w+) ON", statement.strip())
        if re.search(r"ADD CONSTRAINT \w+ PRIMARY KEY", statement) or (
                index and index.group(1) in wanted):
            kept.append(statement.strip())
    missing = wanted - {m.group(1) for s in kept if (m := re.match(r"CREATE .*?INDEX (\w+)", s))}
    if missing:
        raise RuntimeError(f"the publisher has no index {sorted(missing)}")
    return pre + "\n" + "".join(f"{s};\n" for s in kept)


def indexes(cluster: Cluster, db: str, tables: tuple[str, ...]) -> str:
    """``table: index (columns), …`` of the named tables, for the report."""
    with psycopg.connect(cluster.conninfo(db)) as conn:
        rows = conn.execute(
            "SELECT tablename, indexname, regexp_replace(indexdef, '.*USING \\w+ ', '') "
            "FROM pg_indexes WHERE tablename = ANY(%s) ORDER BY 1, 2",
            (list(tables),)).fetchall()
    return "; ".join(f"{t}.{i} {cols}" for t, i, cols in rows)


def sync_bootstrap(base: str, target: str) -> dict[str, Any]:
    """One ``registry sync`` bootstrap in a process of its own; its JSON figures."""
    done = subprocess.run([sys.executable, str(HERE / "sync_client_run.py"), "--from", base,
                           "--into", target], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"sync_client_run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def walk_snapshot(base: str, lines: str) -> int:
    """Every page of the head release's snapshot in the line encoding ``lines``, fetched
    one after the other (each waits while the centre builds it); how many pages."""
    head = json.load(urllib.request.urlopen(f"{base}/sync/v1/head", timeout=60))
    token, pages = "", 0
    while True:
        query = urllib.parse.urlencode({"after": token, "lines": lines})
        with urllib.request.urlopen(f"{base}/sync/v1/snapshot/{head['epoch']}/"
                                    f"{head['release']}?{query}", timeout=600) as answer:
            token = json.loads(answer.readline()).get("next") or ""
        pages += 1
        if not token:
            return pages


def lr_bootstrap(pub: Cluster, sub: Cluster, pub_db: str, schema: str, name: str
                 ) -> dict[str, float]:
    """A fresh subscriber database ``name`` with ``schema``; CREATE SUBSCRIPTION until every
    table is ready. Returns seconds and entry_versions rows."""
    sub.admin(f"CREATE DATABASE {name}")
    sub.psql(name, schema)
    with psycopg.connect(sub.conninfo(name), autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(f"CREATE SUBSCRIPTION {name} CONNECTION "
                     f"'{pub.conninfo(pub_db)}' PUBLICATION reg")
        while True:
            total, ready = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE r.srsubstate = 'r') "
                "FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
                "WHERE s.subname = %s", (name,)).fetchone() or (0, 0)
            if total == len(TABLES) and ready == total:
                break
            if time.perf_counter() - started > 3600:
                raise RuntimeError("logical replication: tables not ready after an hour")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM entry_versions").fetchone()
    return {"seconds": seconds, "rows": float(rows[0] if rows else 0)}


def drop_subscriber(sub: Cluster, name: str) -> None:
    """Drop the subscription (and so its slot on the publisher), then its database."""
    with contextlib.suppress(psycopg.OperationalError):  # no such database
        sub.admin(f"DROP SUBSCRIPTION IF EXISTS {name}", db=name)
    sub.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def scalar(cluster: Cluster, db: str, sql: str) -> Any:
    """One value."""
    return cluster.scalar(sql, db)


def on_commit(_session: Session) -> None:
    """Note the moment of every ORM commit (the publish's is the last one)."""
    COMMITS.append(time.perf_counter())
    WALL.append(time.time())


def cpu_window(pub: Cluster, sub: Cluster, server: subprocess.Popen[bytes]) -> CpuWindow:
    """A CPU window over the bench's processes: the two clusters (their postmasters and
    every backend, WAL sender and apply worker under them), the centre's server, and this
    process (which publishes, then polls)."""
    window = CpuWindow()
    window.add("publisher cluster", postmaster_pid(pub.data))
    window.add("subscriber cluster", postmaster_pid(sub.data))
    window.add("centre server", server.pid)
    window.add("bench", os.getpid())
    return window


GROUPS = ("sync client", "subscriber cluster", "publisher cluster", "centre server", "bench")


def follow_alone(pub: Cluster, sub: Cluster, lr_db: str, base: str, replica: str,
                 start: int, count: int, title: str,
                 window: CpuWindow | None = None) -> float:
    """Seconds from the publisher's commit until a long-polling follower of every list
    (``bench/sync_fanout_worker.py``, a process of its own, replica ``replica``) has
    committed the release; logical replication is disabled meanwhile, so the follower
    has the machine to itself, as logical replication has in ``publish_and_follow``.
    The subscription is enabled again and caught up before this returns."""
    latest: date = scalar(pub, NAME, "SELECT max(valid_from) FROM entry_versions")
    sub.admin(f"ALTER SUBSCRIPTION {lr_db} DISABLE", db=lr_db)

    made: list[int] = []

    def publish() -> tuple[int, float]:
        WALL.clear()
        made.append(rename_items(pub.url(NAME), start, count, latest + timedelta(days=1),
                                 title))
        if window is not None:
            window.start()
        return made[-1], WALL[-1]

    seconds = follower_sees(base, replica, publish, window)
    release = made[-1]
    sub.admin(f"ALTER SUBSCRIPTION {lr_db} ENABLE", db=lr_db)
    deadline = time.perf_counter() + 300
    while not scalar(sub, lr_db, f"SELECT 1 FROM releases WHERE id = {int(release)}"):
        if time.perf_counter() > deadline:
            raise RuntimeError("logical replication did not catch up in 300 s")
        time.sleep(0.01)
    return seconds


def publish_and_follow(pub: Cluster, sub: Cluster, lr_db: str, client: SyncClient,
                       start: int, count: int, title: str,
                       window: CpuWindow | None = None) -> dict[str, float]:
    """Rename ``count`` items from the day after the latest ``valid_from`` on the publisher;
    seconds from the commit until the subscriber shows the release, then seconds of the
    sync pull that applies it."""
    latest: date = scalar(pub, NAME, "SELECT max(valid_from) FROM entry_versions")
    expected = int(scalar(pub, NAME, "SELECT coalesce(max(id), 0) + 1 FROM releases"))
    seen: dict[str, float] = {}
    connected = threading.Event()
    window_started = threading.Event()

    def poll() -> None:
        with psycopg.connect(sub.conninfo(lr_db), autocommit=True) as conn:
            connected.set()
            deadline = time.perf_counter() + 300
            while time.perf_counter() < deadline:
                if conn.execute("SELECT 1 FROM releases WHERE id = %s", (expected,)).fetchone():
                    seen["at"] = time.perf_counter()
                    if window is not None and window_started.wait(30):
                        window.stop()
                    return
                time.sleep(0.002)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    connected.wait(30)
    COMMITS.clear()
    release = rename_items(pub.url(NAME), start, count, latest + timedelta(days=1), title)
    if window is not None:
        window.start()
        window_started.set()
    committed = COMMITS[-1]
    thread.join(310)
    if release != expected or "at" not in seen:
        raise RuntimeError(f"release {release} (expected {expected}) not seen by the "
                           "logical-replication subscriber in 300 s")
    lr_seconds = seen["at"] - committed
    started = time.perf_counter()
    releases = records = 0
    while releases < 1:  # the server might not see the new head on the very first ask
        result = client.pull()
        releases += result.releases
        records += result.records
        if time.perf_counter() - started > 300:
            raise RuntimeError("the sync replica did not get the release in 300 s")
    return {"lr": lr_seconds, "sync": time.perf_counter() - started, "records": records}


def cpu_rows(cpu: dict[str, list[CpuWindow]], records: str) -> list[tuple[str, str, str, str]]:
    """Print the medians of the CPU windows of the large release; their table rows."""
    def summary(windows: list[CpuWindow]) -> tuple[float, str, float]:
        names = [n for n in GROUPS if any(n in w.used for w in windows)]
        parts = ", ".join(f"{n} {median([w.used.get(n, 0.0) for w in windows]):.0f}"
                          for n in names)
        return (median([w.total for w in windows]), parts,
                median([w.machine_share for w in windows]))

    sync_total, sync_parts, sync_share = summary(cpu["follow"])
    lr_total, lr_parts, lr_share = summary(cpu["lr"])
    print(f"CPU medians, {records}-record release, commit → visible (ms): sync follower "
          f"{sync_total:.0f} ({sync_parts}), {sync_share:.0%} of the machine; logical "
          f"replication {lr_total:.0f} ({lr_parts}), {lr_share:.0%} of the machine",
          flush=True)
    return [(f"a {records}-record release: CPU of every process from the commit until "
             "visible, ms (medians)", f"sync follower {sync_total:.0f}: {sync_parts}",
             f"logical replication {lr_total:.0f}: {lr_parts}",
             f"{sync_total / lr_total:.1f}× the CPU"),
            ("that CPU ÷ (cores × wall time)", f"sync follower {sync_share:.0%}",
             f"logical replication {lr_share:.0%}", "")]


def median(values: list[float]) -> float:
    """Median of the rounds."""
    return float(statistics.median(values))


def main() -> None:
    """Build, measure, report, clean up."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=1_000_000,
                        help="entry versions in the centre (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the (stopped) clusters' directory and logs")
    parser.add_argument("--lookup-index", action="store_true",
                        help="subscriber also gets the code-lookup and lineage 'from' b-trees")
    args = parser.parse_args()
    least = 100_000 + 7000 * args.rounds  # the followers' releases rename items from 100,000
    if args.versions < least:
        parser.error(f"--versions must be at least {least:,} for {args.rounds} rounds")

    def interrupted(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    run_started = time.perf_counter()
    bins = bindir()
    root = Path(tempfile.mkdtemp(prefix="peer-logical-"))
    prepare_root(root)
    work = Path(tempfile.mkdtemp(prefix="peer-logical-sqlite-"))
    pub = Cluster(bins, root, "pub", {"wal_level": "logical"})
    sub = Cluster(bins, root, "sub", {})
    server: subprocess.Popen[bytes] | None = None
    client: SyncClient | None = None
    table: list[tuple[str, str, str, str]] = []
    try:
        print(f"private clusters in {root} ({bins}): publisher on 127.0.0.1:{pub.port}, "
              f"subscriber on 127.0.0.1:{sub.port}", flush=True)
        pub.start()
        sub.start()

        minutes = args.versions / BUILD_RATE / 60
        print(f"building the centre on the publisher: {args.versions:,} versions through the "
              f"services (~{BUILD_RATE:,}/s here, about {minutes:.1f} min)…", flush=True)
        url = build(args.versions, server=f"postgresql+psycopg://postgres@127.0.0.1:{pub.port}")
        pub.admin("ANALYZE", db=NAME)
        pub.admin(f"CREATE PUBLICATION reg FOR TABLE {', '.join(TABLES)}", db=NAME)
        schema = lean_schema(pub, NAME, args.lookup_index)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, port)
        # A centre that has served PostgreSQL replicas builds each release's snapshot in
        # both line encodings as soon as the release is out: here, the first request for
        # COPY lines starts that, and the rounds find every page stored, as later
        # replicas of a release do.
        started = time.perf_counter()
        built = walk_snapshot(base, "copy") + walk_snapshot(base, "json")
        print(f"the centre's snapshot in both line encodings: {built} pages ready in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        event.listen(Session, "after_commit", on_commit)

        lr: list[dict[str, float]] = []
        spg: list[dict[str, Any]] = []
        slite: list[dict[str, Any]] = []
        floor: list[float] = []
        last = args.rounds - 1
        for r in range(args.rounds):
            print(f"round {r + 1} of {args.rounds}", flush=True)
            order = ("lr", "sync") if r % 2 == 0 else ("sync", "lr")
            for kind in order:
                if kind == "lr":
                    lr.append(lr_bootstrap(pub, sub, NAME, schema, f"lr_r{r}"))
                    if r == 0:
                        print(f"  subscriber indexes: {indexes(sub, 'lr_r0', TABLES)}")
                    if r != last:
                        drop_subscriber(sub, f"lr_r{r}")
                    print(f"  logical replication → lean subscriber: {lr[-1]['rows']:,.0f} "
                          f"entry_versions rows in {lr[-1]['seconds']:.2f} s = "
                          f"{lr[-1]['rows'] / lr[-1]['seconds']:,.0f} rows/s", flush=True)
                else:
                    sub.admin(f"CREATE DATABASE sync_r{r}")
                    spg.append(sync_bootstrap(base, sub.url(f"sync_r{r}")))
                    if r == 0:
                        print("  sync replica indexes: " + indexes(
                            sub, "sync_r0", ("registry_versions", "registry_lineage")))
                    if r != last:
                        sub.admin(f"DROP DATABASE sync_r{r} WITH (FORCE)")
                    print(f"  registry sync → PostgreSQL: {spg[-1]['records']:,} records in "
                          f"{spg[-1]['seconds']:.2f} s = "
                          f"{spg[-1]['records'] / spg[-1]['seconds']:,.0f} records/s",
                          flush=True)
            path = work / f"replica_r{r}.db"
            slite.append(sync_bootstrap(base, f"sqlite:///{path}"))
            floor.append(raw_insert_rate(path))
            path.unlink()
            print(f"  registry sync → SQLite: {slite[-1]['records']:,} records in "
                  f"{slite[-1]['seconds']:.2f} s = "
                  f"{slite[-1]['records'] / slite[-1]['seconds']:,.0f} records/s; raw "
                  f"executemany floor {floor[-1]:,.0f} rows/s", flush=True)

        lr_s = median([x["seconds"] for x in lr])
        lr_rate = median([x["rows"] / x["seconds"] for x in lr])
        pg_s = median([x["seconds"] for x in spg])
        pg_rate = median([x["records"] / x["seconds"] for x in spg])
        sq_s = median([x["seconds"] for x in slite])
        sq_rate = median([x["records"] / x["seconds"] for x in slite])
        floor_rate = median(floor)
        print(f"bootstrap medians: logical replication {lr_s:.2f} s ({lr_rate:,.0f} rows/s); "
              f"sync → PostgreSQL {pg_s:.2f} s ({pg_rate:,.0f} records/s), sync time ÷ LR "
              f"time {pg_s / lr_s:.2f}; sync → SQLite {sq_s:.2f} s ({sq_rate:,.0f} records/s),"
              f" ÷ LR time {sq_s / lr_s:.2f}; executemany floor {floor_rate:,.0f} rows/s, "
              f"sync SQLite rate ÷ floor {sq_rate / floor_rate:.2f}", flush=True)
        rows = f"{lr[0]['rows']:,.0f} rows / {spg[0]['records']:,} records"
        table += [
            (f"bootstrap into PostgreSQL, seconds ({rows})", f"sync {pg_s:.2f} s",
             f"logical replication {lr_s:.2f} s", f"{pg_s / lr_s:.2f}× the time"),
            ("bootstrap into PostgreSQL, rate", f"sync {pg_rate:,.0f} records/s",
             f"logical replication {lr_rate:,.0f} rows/s", f"{pg_rate / lr_rate:.2f}× the rate"),
            ("bootstrap into SQLite vs logical replication into PostgreSQL, seconds",
             f"sync {sq_s:.2f} s", f"logical replication {lr_s:.2f} s",
             f"{sq_s / lr_s:.2f}× the time"),
            ("bootstrap into SQLite, rate", f"sync {sq_rate:,.0f} records/s",
             f"raw executemany floor {floor_rate:,.0f} rows/s",
             f"{sq_rate / floor_rate:.2f}× the rate"),
        ]

        print("incremental: logical-replication subscriber and sync PostgreSQL replica "
              f"(lr_r{last}, sync_r{last}) both caught up", flush=True)
        client = SyncClient(base, sub.url(f"sync_r{last}"))
        client.pull()  # a following replica has its store open and its head known
        big: list[dict[str, float]] = []
        one: list[dict[str, float]] = []
        cpu: dict[str, list[CpuWindow]] = {"lr": [], "follow": []}
        for r in range(args.rounds):
            waited = settle(server)
            cpu["lr"].append(cpu_window(pub, sub, server))
            big.append(publish_and_follow(pub, sub, f"lr_r{last}", client, 0, 7000,
                                          f"bench reform peer {r}", cpu["lr"][-1]))
            print(f"  round {r + 1}: {big[-1]['records']:,.0f}-record release: logical "
                  f"replication {big[-1]['lr']:.3f} s, sync pull {big[-1]['sync']:.3f} s",
                  flush=True)
            print(f"    CPU (ms) from the commit until the subscriber shows it: "
                  f"{cpu['lr'][-1].describe(GROUPS)}", flush=True)
            waited += settle(server)
            one.append(publish_and_follow(pub, sub, f"lr_r{last}", client, 7000 + r, 1,
                                          f"bench rename peer {r}"))
            print(f"  round {r + 1}: one rename ({one[-1]['records']:,.0f} records): logical "
                  f"replication {one[-1]['lr']:.4f} s, sync pull {one[-1]['sync']:.4f} s "
                  f"(the centre settled for {waited:.1f} s before the two)", flush=True)
            for runs, first, count, what in ((big, 100_000 + 7000 * r, 7000, "release"),
                                            (one, 7000 + args.rounds + r, 1, "rename")):
                settle(server)
                window = cpu_window(pub, sub, server) if runs is big else None
                runs[-1]["follow"] = follow_alone(
                    pub, sub, f"lr_r{last}", base, sub.url(f"sync_r{last}"), first, count,
                    f"bench follow {what} {r}", window)
                print(f"  round {r + 1}: {what}, a long-polling sync follower alone: commit "
                      f"→ visible {runs[-1]['follow']:.4f} s", flush=True)
                if window is not None:
                    cpu["follow"].append(window)
                    print(f"    CPU (ms) from the commit until the follower has it: "
                          f"{window.describe(GROUPS)}", flush=True)
        for label, runs in (("release", big), ("one rename", one)):
            s, p = median([x["sync"] for x in runs]), median([x["lr"] for x in runs])
            records = median([x["records"] for x in runs])
            print(f"incremental medians, {label}: sync {s:.4f} s, logical replication "
                  f"{p:.4f} s, ratio {s / p:.1f}", flush=True)
            name = (f"a {records:,.0f}-record release (7,000 renames)" if runs is big
                    else f"one rename ({records:,.0f} records)")
            coarse = " (LR within the 2 ms poll interval)" if p < 0.002 else ""
            table.append((f"{name}: LR commit → visible; sync pull", f"sync pull {s:.3f} s",
                          f"logical replication {p:.4f} s", f"{s / p:.1f}× the time{coarse}"))
            f = median([x["follow"] for x in runs])
            print(f"incremental medians, {label}: a long-polling sync follower alone, commit "
                  f"→ visible {f:.4f} s, ratio to logical replication {f / p:.1f}", flush=True)
            table.append((f"{name}: commit → visible, each alone (sync: a long-polling "
                          "follower)", f"sync {f:.3f} s", f"logical replication {p:.4f} s",
                          f"{f / p:.1f}× the time{coarse}"))
        table += cpu_rows(cpu, f"{median([x['records'] for x in big]):,.0f}")
    finally:
        if client is not None:
            client.close()
        if server is not None:
            server.terminate()
            server.wait(30)
        sub.stop()
        pub.stop()
        shutil.rmtree(work, ignore_errors=True)
        if args.keep:
            print(f"kept (stopped) clusters and logs in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    minutes = (time.perf_counter() - run_started) / 60
    print(f"\n{args.versions:,} versions, {args.rounds} rounds (medians), {minutes:.1f} min "
          f"in all\n\n| figure | measured | peer | ratio (measured ÷ peer) |\n|---|---|---|---|")
    for figure, measured, peer, ratio in table:
        print(f"| {figure} | {measured} | {peer} | {ratio} |")


if __name__ == "__main__":
    main()
