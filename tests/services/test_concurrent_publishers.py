"""Concurrent publishers on PostgreSQL: gapless sequence numbers and a valid chain."""

from __future__ import annotations

import json
import threading

from sqlalchemy import select

from registry.db import session_factory, transaction
from registry.models import FeedRecord, Release
from registry.services import feed
from tests.conftest import Database
from tests.factories import publish, unit


def test_concurrent_publishers_give_a_gapless_verified_feed(pg_database: Database) -> None:
    sessions = session_factory(pg_database.engine)
    with transaction(sessions) as session:
        publish(session, [unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(10):
                with transaction(sessions) as session:
                    publish(session, [unit(f"{n}{i:02d}", f"Quận {n}-{i}", "Quận", "01"),
                                      unit(f"{n}{i:02d}01", f"Phường {n}-{i}", "Phường",
                                           f"{n}{i:02d}")])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with transaction(sessions) as session:
        head = feed.verify_feed(session)
        seqs = list(session.scalars(select(FeedRecord.seq).order_by(FeedRecord.seq)))
        assert seqs == list(range(1, head.seq + 1))
        releases = list(session.scalars(select(Release).order_by(Release.id)))
        assert [r.id for r in releases] == list(range(1, len(releases) + 1)) and len(releases) == 42
        # each release's records are contiguous and end with its marker
        for r in releases:
            rows = list(session.scalars(select(FeedRecord).where(FeedRecord.release_id == r.id)
                                        .order_by(FeedRecord.seq)))
            assert [x.seq for x in rows] == list(range(r.first_seq, r.last_seq + 1))
            assert json.loads(rows[-1].record)["t"] == "release"
