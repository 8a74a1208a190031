"""The replica's write lock, and what a one-record release costs a replica's database.

Two clients on one replica database queue behind the state row's lock (``SELECT … FOR
UPDATE``, or SQLite's write lock), and a client whose cursor was moved meanwhile refuses to
write. A one-record release takes the replica two connections from its pool and five
statements: the state read, the locked read, the version, the release row and the cursor,
committed once; the state it leaves is known without reading it back."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from registry.errors import Conflict
from registry.sync.apply import OpenRelease
from registry.sync.local_store import LocalStore, state_after
from tests.sync.conftest import Centre, Targets, hanoi_replica


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_a_second_client_waits_for_the_first_ones_lock(
        sqlite_centre: Centre, targets: Targets, backend: str) -> None:
    client, into = hanoi_replica(sqlite_centre, targets, backend)
    other = LocalStore(into)
    locked = client.store.begin()
    got = threading.Event()

    def second() -> None:
        taken = other.begin()
        got.set()
        taken.rollback()

    thread = threading.Thread(target=second)
    try:
        thread.start()
        assert not got.wait(0.5)  # queued behind the first client's lock
        locked.commit()
        assert got.wait(30)  # and let through once it is released
    finally:
        locked.rollback()
        thread.join(30)
        other.close()
        client.close()


def test_a_client_whose_cursor_was_moved_meanwhile_writes_nothing(
        sqlite_centre: Centre, targets: Targets) -> None:
    client, _into = hanoi_replica(sqlite_centre, targets, "postgresql")
    try:
        read = client.store.state()
        with client.store.transaction() as (conn, _state):
            client.store.set_state(conn, seq=read.seq + 1)
        with pytest.raises(Conflict, match=f"from seq {read.seq} to {read.seq + 1}"):
            OpenRelease(client, read)
        assert client.store.state().seq == read.seq + 1
    finally:
        client.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_one_record_release_takes_two_connections_and_five_statements(
        sqlite_centre: Centre, targets: Targets, backend: str) -> None:
    client, _into = hanoi_replica(sqlite_centre, targets, backend)
    try:
        seen: list[str] = []
        engine = client.store.engine
        event.listen(engine, "checkout", lambda *_args: seen.append("checkout"))
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, sql, *_rest: seen.append(sql.split()[0].upper()))
        event.listen(engine, "commit", lambda _conn: seen.append("commit"))
        sqlite_centre.publish([{"op": "rename", "list": "admin-units", "code": "01",
                                "name": "Hà Nội mới"}], "2025-07-01")
        result = client.pull()
        assert result.releases == 1
        # SQLite's transactions are begun by a statement of their own (registry.db), and
        # its lock is taken by a no-op UPDATE.
        begin = ["BEGIN"] if backend == "sqlite" else []
        locked = ["UPDATE", "SELECT"] if backend == "sqlite" else ["SELECT"]
        assert seen == ["checkout", *begin, "SELECT",  # where the replica stands
                        "checkout", *begin, *locked,  # its lock, and the state under it
                        "INSERT", "INSERT", "UPDATE",  # versions, the release, the cursor
                        "commit"]
        state = client.store.state()
        assert (result.release, result.seq) == (state.release, state.seq)
    finally:
        client.close()


def test_the_state_a_transaction_leaves_is_what_reading_it_gives(
        sqlite_centre: Centre, targets: Targets) -> None:
    client, _into = hanoi_replica(sqlite_centre, targets, "postgresql")
    try:
        before = client.store.state()
        values = {"seq": before.seq + 5, "hash": "ab" * 32, "release_id": before.release + 2,
                  "lists": ("admin-units",), "head_seq": 99, "notified_release": 3,
                  "last_error": None, "applied_at": datetime(2026, 1, 2, tzinfo=UTC)}
        with client.store.transaction() as (conn, _state):
            client.store.set_state(conn, **values)
        expected = state_after(before, values)
        read = client.store.state()
        assert replace(read, applied_at=None) == replace(expected, applied_at=None)
        assert read.applied_at == values["applied_at"]
        assert (expected.release, expected.lists) == (before.release + 2, ("admin-units",))
    finally:
        client.close()
