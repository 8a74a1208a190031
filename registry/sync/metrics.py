"""Prometheus metrics of the sync server (served at ``/metrics`` by the app)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SNAPSHOT_PAGES = Counter(
    "registry_sync_snapshot_pages_total",
    "Snapshot pages served, by where they came from: memory (this process's cache), stored "
    "(the database, built once per release) or built (queried now, then stored).",
    ["source"])
PAGES_AHEAD = Gauge(
    "registry_sync_pages_ahead",
    "Snapshot pages queued or being built on the build-ahead thread: a new release's walk, "
    "or the pages after one a replica asked for (0: the process has nothing left to build).",
    multiprocess_mode="livesum")
