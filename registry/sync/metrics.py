"""Prometheus metrics of the sync server (served at ``/metrics`` by the app)."""

from __future__ import annotations

from prometheus_client import Counter

SNAPSHOT_PAGES = Counter(
    "registry_sync_snapshot_pages_total",
    "Snapshot pages served, by where they came from: memory (this process's cache), stored "
    "(the database, built once per release) or built (queried now, then stored).",
    ["source"])
