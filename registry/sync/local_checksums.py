"""A replica's checksums computed on several cores, for ``registry sync verify``.

A checksum is a sum, so a list's versions can be split by code into ranges, each summed by
a process of its own, and the partial sums added. Digesting a million versions is about
10 s of one core on the development machine; ``verify`` is the only caller that may wait
for it, and it has the machine to itself.

Each process reads the replica in a transaction of its own, so each also reads the
replica's position; if a follower applied a release meanwhile, the parts would describe
two different states, and the computation is refused rather than reported as a
difference.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise

from sqlalchemy import func, select

from registry.services.checksums import MODULUS, ListChecksum, version_digests
from registry.sync.errors import SyncError
from registry.sync.local_schema import sync_state, versions
from registry.sync.local_store import LocalStore

# Below this many versions in a list, starting processes costs more than it saves.
PARALLEL_FROM = 200_000

Range = tuple[str, str | None, str | None]  # list key, lowest code, code after the last


def default_jobs() -> int:
    """Processes for a checksum: the cores there are, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def _range_sum(url: str, part: Range) -> tuple[int, int, int]:
    """(count, sum, seq) of one range of a list's versions, in one transaction."""
    store = LocalStore(url, create=False)
    try:
        with store.engine.connect() as conn:
            seq = int(conn.execute(select(sync_state.c.seq)
                                   .where(sync_state.c.id == 1)).scalar_one())
            total = count = 0
            for digest in version_digests(part[0], store.version_rows(conn, *part)):
                total += digest
                count += 1
            return count, total % MODULUS, seq
    finally:
        store.close()


def _ranges(store: LocalStore, keys: list[str], jobs: int) -> list[Range]:
    """Ranges of about equal size of the lists with at least :data:`PARALLEL_FROM`
    versions (one range per process per list)."""
    out: list[Range] = []
    with store.engine.connect() as conn:
        sizes: dict[str, int] = {key: int(n) for key, n in conn.execute(
            select(versions.c.list_key, func.count()).where(versions.c.list_key.in_(keys))
            .group_by(versions.c.list_key))}
        for key in keys:
            size = sizes.get(key, 0)
            if size < PARALLEL_FROM:
                continue
            bounds: list[str | None] = [None]
            for part in range(1, jobs):
                code = conn.execute(select(versions.c.code).where(versions.c.list_key == key)
                                    .order_by(versions.c.code).offset(size * part // jobs)
                                    .limit(1)).scalar()
                if code is not None and code != bounds[-1]:
                    bounds.append(code)
            bounds.append(None)
            out.extend((key, low, high) for low, high in pairwise(bounds))
    return out


def parallel_checksums(store: LocalStore, only: Iterable[str] | None, at_seq: int,
                       jobs: int) -> dict[str, ListChecksum]:
    """Per-list checksums of the lists ``only`` (``None``: every list held) as
    :meth:`LocalStore.checksums` computes them, the large lists' versions summed by
    ``jobs`` processes; :class:`SyncError` if the replica moved away from ``at_seq`` while
    it was read."""
    with store.engine.connect() as conn:
        held = store.definitions(conn)
    keys = sorted(held if only is None else set(only) & set(held))
    parts = _ranges(store, keys, jobs) if jobs > 1 and sys.platform == "linux" else []
    big = sorted({part[0] for part in parts})
    sums: dict[str, ListChecksum] = {}
    if parts:
        store.engine.dispose()  # no connection of ours crosses into the children
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            results = list(pool.map(_range_sum, [store.url] * len(parts), parts))
        for (key, _, _), (count, total, seq) in zip(parts, results, strict=True):
            if seq != at_seq:
                raise _moved(at_seq, seq)
            found = sums.setdefault(key, ListChecksum(key))
            found.versions += count
            found.version_sum = (found.version_sum + total) % MODULUS
    with store.engine.connect() as conn:
        seq = int(conn.execute(select(sync_state.c.seq)
                               .where(sync_state.c.id == 1)).scalar_one())
        if seq != at_seq:
            raise _moved(at_seq, seq)
        out = store.checksums(keys, conn, skip_versions=big)
    for key, found in sums.items():
        if key in out:
            out[key].versions, out[key].version_sum = found.versions, found.version_sum
    return out


def _moved(expected: int, found: int) -> SyncError:
    return SyncError(f"the replica moved from seq {expected} to {found} while it was "
                     "verified (a pull or a follower is running): run verify again")
