"""Bench data for the sync benchmark: a PostgreSQL centre with N entry versions.

Everything is published through the services (change sets, one release per batch), like
real data, so building a million versions takes minutes; the database is kept between
runs and rebuilt only when it does not hold what was asked for (or with ``--rebuild``).

    python bench/sync_data.py --versions 1000000
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from pgtools import drop_pg
from sqlalchemy import func, select
from sqlalchemy_utils import create_database

from registry.db import make_engine, session_factory, transaction
from registry.migrate import upgrade
from registry.models import CodeList, EntryVersion
from registry.services import change_sets, code_lists
from registry.services.actors import SYSTEM
from registry.services.change_sets import LegalBasis

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
NAME = "registry_sync_bench"
LIST = {
    "key": "bench-items", "name": "Danh mục thử tải", "name_en": "Load-test items",
    "owner": "Bench", "code_pattern": "^\\d{7}$", "reuse_policy": "never",
    "levels": [{"key": "item", "name": "Mục", "types": ["Mục"], "parents": [],
                "code_pattern": None}],
    "attributes": {"group": {"type": "string"}},
}
BASIS = LegalBasis(number="1/2025/BENCH", date=date(2025, 1, 1), issuer="Bench")
BATCH = 50_000


def centre_url(server: str = PG, name: str = NAME) -> str:
    """The bench centre's database URL."""
    return f"{server}/{name}"


def count_versions(url: str) -> int:
    """Entry versions of the bench list in the centre (0 if there is no such database)."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            list_id = session.scalar(select(CodeList.id).where(CodeList.key == LIST["key"]))
            if list_id is None:
                return 0
            return int(session.scalar(select(func.count()).select_from(EntryVersion)
                                      .where(EntryVersion.list_id == list_id)) or 0)
    except Exception:  # no database yet
        return 0
    finally:
        engine.dispose()


def publish_items(url: str, start: int, count: int, title: str,
                  effective: date = date(2025, 1, 1)) -> int:
    """Create items ``start`` … ``start+count-1`` in one release; return it."""
    sessions = session_factory(make_engine(url))
    ops = [{"op": "create", "list": LIST["key"], "code": f"{i:07d}",
            "name": f"Mục thử nghiệm số {i}", "type": "Mục",
            "attributes": {"group": f"nhóm {i % 97}"}} for i in range(start, start + count)]
    with transaction(sessions) as session:
        cs = change_sets.create_change_set(session, SYSTEM, title, BASIS, effective)
        change_sets.add_operations(session, SYSTEM, cs.id, ops)
        return change_sets.publish_direct(session, SYSTEM, cs.id)


def rename_items(url: str, start: int, count: int, effective: date, title: str) -> int:
    """Rename items from ``effective``: two version records each (before and after)."""
    sessions = session_factory(make_engine(url))
    ops = [{"op": "rename", "list": LIST["key"], "code": f"{i:07d}",
            "name": f"Mục đã đổi tên số {i}"} for i in range(start, start + count)]
    with transaction(sessions) as session:
        cs = change_sets.create_change_set(session, SYSTEM, title, BASIS, effective)
        change_sets.add_operations(session, SYSTEM, cs.id, ops)
        return change_sets.publish_direct(session, SYSTEM, cs.id)


def build(versions: int, rebuild: bool = False, server: str = PG, name: str = NAME) -> str:
    """Make sure the centre holds ``versions`` bench versions; return its URL."""
    url = centre_url(server, name)
    if not rebuild and count_versions(url) >= versions:
        return url  # earlier runs add renamed versions on top
    drop_pg(server, url)
    create_database(url)
    engine = make_engine(url)
    upgrade(engine)
    with transaction(session_factory(engine)) as session:
        code_lists.define_lists(session, SYSTEM, [LIST])
    engine.dispose()
    started = time.perf_counter()
    for start in range(0, versions, BATCH):
        count = min(BATCH, versions - start)
        publish_items(url, start, count, f"bench items {start}–{start + count - 1}")
        done = start + count
        rate = done / (time.perf_counter() - started)
        print(f"  published {done:,} of {versions:,} versions ({rate:,.0f}/s)", flush=True)
    return url


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print(build(args.versions, args.rebuild))


if __name__ == "__main__":
    main()
