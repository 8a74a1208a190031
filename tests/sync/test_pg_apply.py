"""PostgreSQL replicas: a first bootstrap stages the pages' version lines and builds the
live tables' indexes after their rows; a large release is upserted in one set-based
statement, written ahead in pieces while the next pages are read. The replica ends with
every key and index, equal to the centre."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import DBAPIError

from registry.sync.apply import FLUSH_LOOK
from registry.sync.client import SyncClient
from registry.sync.in_flight import IN_FLIGHT, InFlight
from registry.sync.local_store import (
    BATCH,
    INCOMING,
    SET_BASED_FROM,
    WRITE_AHEAD_FROM,
    WRITE_AHEAD_MOST,
    Batch,
    LocalStore,
    version_params,
)
from registry.sync.protocol import Subscription
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets, hanoi_replica


def _keys_and_indexes(url: str) -> dict[str, tuple[list[str], list[str]]]:
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {table: (found.get_pk_constraint(table)["constrained_columns"],
                        sorted(i["name"] for i in found.get_indexes(table)))
                for table in ("registry_versions", "registry_lineage")}
    finally:
        engine.dispose()


def test_the_first_bootstrap_builds_every_key_and_index(sqlite_centre: Centre,
                                                       targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    centre.publish([unit("00099", "Phường \"Ngã Tư\" \\ Sở “mới”", "Phường", "001")])
    into = targets.new("postgresql")
    expected = {"registry_versions": (["list_key", "code", "valid_from"],
                                      ["ix_registry_versions_parent"]),
                "registry_lineage": (["list_key", "from_code", "to_code", "effective_date"],
                                     ["ix_registry_lineage_to"])}
    client = SyncClient(centre.base, into)
    try:
        assert client.pull().bootstrapped
        assert _keys_and_indexes(into) == expected
        assert client.verify().ok
        with client.store.engine.connect() as conn:
            name, valid_to = conn.exec_driver_sql(
                "SELECT name, valid_to FROM registry_versions WHERE code = '00099'").one()
        assert (name, valid_to) == ("Phường \"Ngã Tư\" \\ Sở “mới”", None)
    finally:
        client.close()


def test_large_releases_are_upserted_set_based_and_stay_equal(sqlite_centre: Centre,
                                                              targets: Targets) -> None:
    centre = sqlite_centre
    client, into = hanoi_replica(centre, targets, "postgresql")
    try:
        codes = [f"0{n:04d}" for n in range(1000, 1000 + SET_BASED_FROM + 100)]
        centre.publish([unit(code, f"Phường {code}", "Phường", "001") for code in codes])
        assert client.pull().releases == 1
        # The same keys again (renames on their valid-from date): conflicts, updated.
        centre.publish([{"op": "rename", "list": "admin-units", "code": code,
                         "name": f"Phường {code} mới"} for code in codes], "2025-01-01")
        assert client.pull().releases == 1
        assert client.verify().ok
        with client.store.engine.connect() as conn:
            renamed = conn.exec_driver_sql(
                "SELECT count(*) FROM registry_versions WHERE name LIKE '%% mới'").scalar()
            leftover = conn.exec_driver_sql(
                f"SELECT count(*) FROM pg_tables WHERE tablename = '{INCOMING}' "
                "AND schemaname = current_schema()").scalar()
        assert renamed == len(codes) and leftover == 0  # a temporary table, not a real one
        assert _keys_and_indexes(into)["registry_versions"][1] == ["ix_registry_versions_parent"]
    finally:
        client.close()


# --- a large release's versions written ahead while its next pages are read ---

def _pieces_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Collect the statements left running on a replica's server, as they are sent."""
    sent: list[str] = []

    class Spy(InFlight):
        def __init__(self, raw: Any, sql: str) -> None:
            sent.append(sql)
            super().__init__(raw, sql)
    monkeypatch.setattr("registry.sync.local_store.InFlight", Spy)
    return sent


def test_a_large_release_is_written_ahead_and_stays_equal(
        sqlite_centre: Centre, targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    centre = sqlite_centre
    full, _into = hanoi_replica(centre, targets, "postgresql")
    # A replica of one list follows deltas, and checks checksums after the upserts.
    some = SyncClient(centre.base, targets.new("postgresql"),
                      subscription=Subscription(lists=("admin-units",)))
    try:
        some.pull()
        sent = _pieces_sent(monkeypatch)
        codes = [f"{n:05d}" for n in range(10_000, 10_000 + 2 * BATCH + 300)]
        centre.publish([unit(code, f"Phường {code}", "Phường", "001") for code in codes])
        for client in (full, some):
            before = len(sent)
            assert client.pull().releases == 1
            assert len(sent) > before  # at least its first thousand, ahead of the rest
            assert all("INSERT INTO registry_versions" in sql and INCOMING in sql
                       for sql in sent)
            assert client.verify().ok
        # Renames of the same keys: the pieces update them, and the last record wins.
        centre.publish([{"op": "rename", "list": "admin-units", "code": code,
                         "name": f"Phường {code} mới"} for code in codes], "2025-01-01")
        assert full.pull().releases == 1 and full.verify().ok
        with full.store.engine.connect() as conn:
            renamed = conn.exec_driver_sql(
                "SELECT count(*) FROM registry_versions WHERE name LIKE '%% mới'").scalar()
            assert renamed == len(codes)
            assert IN_FLIGHT not in conn.info  # nothing is left running on a connection
    finally:
        full.close()
        some.close()


def test_a_replica_told_not_to_write_ahead_writes_each_piece_as_it_goes(
        sqlite_centre: Centre, targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _into = hanoi_replica(sqlite_centre, targets, "postgresql")
    try:
        sent = _pieces_sent(monkeypatch)
        client.store.write_ahead = False
        codes = [f"{n:05d}" for n in range(10_000, 10_000 + BATCH + 10)]
        sqlite_centre.publish([unit(code, f"Phường {code}", "Phường", "001")
                               for code in codes])
        assert client.pull().releases == 1 and client.verify().ok
        assert sent == []
    finally:
        client.close()


def _row(code: str, name: str) -> tuple[Any, ...]:
    return version_params({"list": "l", "code": code, "valid_from": "2025-01-01",
                           "valid_to": None, "status": "active", "name": name,
                           "short_name": None, "name_en": None, "type": "t", "level": "x",
                           "parent": None, "attributes": {}, "release": 1, "change_set": 1})


def _names(store: LocalStore) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT code, name FROM registry_versions").all())


@pytest.mark.parametrize("later", ["again", "removed"])
def test_a_key_written_ahead_then_written_again_ends_as_written_last(
        targets: Targets, later: str) -> None:
    store = LocalStore(targets.new("postgresql"))
    try:
        with store.engine.begin() as conn:
            batch = Batch()
            for code in ("a", "b"):
                batch.versions[("l", code, "2025-01-01")] = _row(code, f"{code} 1")
            store.flush(conn, batch, settle=False)
            assert IN_FLIGHT in conn.info and len(batch) == 0  # running on the server
            if later == "again":
                batch.versions[("l", "a", "2025-01-01")] = _row("a", "a 2")
            else:
                batch.remove_version("l", "a", "2025-01-01")
            store.flush(conn, batch, settle=False)  # a removal is never left running
            assert (IN_FLIGHT in conn.info) == (later == "again")
            store.flush(conn, batch)
            assert IN_FLIGHT not in conn.info
        assert _names(store) == ({"a": "a 2", "b": "b 1"} if later == "again"
                                 else {"b": "b 1"})
    finally:
        store.close()


class _Busy:
    """A piece the server is still writing."""

    def busy(self) -> bool:
        return True


def test_what_is_gathered_while_a_piece_is_written_is_bounded(
        targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("registry.sync.local_store.WRITE_AHEAD_FROM", 2)
    monkeypatch.setattr("registry.sync.local_store.WRITE_AHEAD_MOST", 4)
    store = LocalStore(targets.new("postgresql"))
    lite = LocalStore(targets.new("sqlite"))
    try:
        with store.engine.connect() as conn, lite.engine.connect() as other:
            batch = Batch()
            wanted = []
            for n in range(5):
                batch.versions[("l", f"c{n}", "2025-01-01")] = _row(f"c{n}", "x")
                wanted.append(store.wants_flush(conn, batch))
            assert wanted == [False, True, True, True, True]  # from 2, nothing running
            conn.info[IN_FLIGHT] = _Busy()
            try:
                assert [store.wants_flush(conn, _batch_of(n)) for n in range(1, 6)] == \
                    [False, False, False, True, True]  # it waits, up to 4 gathered
            finally:
                del conn.info[IN_FLIGHT]
            # Elsewhere, every BATCH records, synchronously.
            assert not lite.wants_flush(other, _batch_of(BATCH - 1))
            assert lite.wants_flush(other, _batch_of(BATCH))
    finally:
        store.close()
        lite.close()


def test_an_open_release_asks_to_write_at_every_threshold() -> None:
    # It asks every FLUSH_LOOK records: each threshold must be one of those counts.
    assert all(limit % FLUSH_LOOK == 0 for limit in (BATCH, WRITE_AHEAD_FROM, WRITE_AHEAD_MOST))


def _batch_of(count: int) -> Batch:
    batch = Batch()
    for n in range(count):
        batch.versions[("l", f"c{n}", "2025-01-01")] = _row(f"c{n}", "x")
    return batch


def test_a_release_that_fails_leaves_nothing_written(targets: Targets) -> None:
    store = LocalStore(targets.new("postgresql"))
    try:
        with pytest.raises(RuntimeError), store.engine.begin() as conn:
            batch = Batch()
            batch.versions[("l", "a", "2025-01-01")] = _row("a", "a")
            store.flush(conn, batch, settle=False)
            raise RuntimeError("the next page does not verify")
        assert _names(store) == {}
        with store.engine.begin() as conn:  # the next transaction writes afresh
            batch = Batch()
            batch.versions[("l", "a", "2025-01-01")] = _row("a", "a 2")
            store.flush(conn, batch, settle=False)
            store.flush(conn, batch)
        assert _names(store) == {"a": "a 2"}
    finally:
        store.close()


_REFUSE_BAD_NAMES = ("""
CREATE FUNCTION refuse_bad_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name LIKE 'bad%%' THEN
    RAISE EXCEPTION 'name %% refused by this replica''s own rule', NEW.name;
  END IF;
  RETURN NEW;
END $$""", """CREATE TRIGGER refuse_bad_names BEFORE INSERT OR UPDATE ON registry_versions
  FOR EACH ROW EXECUTE FUNCTION refuse_bad_names()""")


def _refuse_bad_names(store: LocalStore) -> None:
    """A trigger of the replica's own that refuses names starting with "bad"."""
    with store.engine.begin() as conn:
        for statement in _REFUSE_BAD_NAMES:
            conn.exec_driver_sql(statement)


def test_a_piece_the_server_refuses_fails_its_release_and_writes_nothing(
        sqlite_centre: Centre, targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal comes back after the client went on: it still names the database's
    reason, and the release's transaction writes nothing, cursor included."""
    client, _into = hanoi_replica(sqlite_centre, targets, "postgresql")
    try:
        sent = _pieces_sent(monkeypatch)
        _refuse_bad_names(client.store)
        before = client.store.state()
        count = _names(client.store)
        codes = [f"{n:05d}" for n in range(10_000, 10_000 + BATCH + 500)]
        sqlite_centre.publish([unit(code, f"bad {code}" if code == codes[0] else
                                    f"Phường {code}", "Phường", "001") for code in codes])
        with pytest.raises(DBAPIError, match="name bad 10000 refused by this replica"):
            client.pull()
        assert sent  # it was refused in a piece left running, not in a synchronous write
        after = client.store.state()
        assert (after.seq, after.release, after.hash) == (before.seq, before.release,
                                                          before.hash)
        assert _names(client.store) == count
        with client.store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse_bad_names ON registry_versions")
        assert client.pull().releases == 1 and client.verify().ok
    finally:
        client.close()


def test_a_refused_piece_is_named_by_the_next_statement_and_dropped_by_a_rollback(
        targets: Targets) -> None:
    store = LocalStore(targets.new("postgresql"))
    try:
        _refuse_bad_names(store)
        with pytest.raises(DBAPIError, match="name bad refused"), \
                store.engine.begin() as conn:
            batch = Batch()
            batch.versions[("l", "a", "2025-01-01")] = _row("a", "bad")
            store.flush(conn, batch, settle=False)  # sent; the client goes on
            conn.exec_driver_sql("SELECT 1")  # the next statement waits for it, and fails
        with store.engine.begin() as conn:  # the connection went back to the pool usable
            assert conn.exec_driver_sql("SELECT count(*) FROM registry_versions").scalar() == 0
            batch = Batch()
            batch.versions[("l", "a", "2025-01-01")] = _row("a", "bad")
            store.flush(conn, batch, settle=False)
            # A rollback drops it without raising (the transaction has failed anyway).
            conn.rollback()
            assert IN_FLIGHT not in conn.info
        assert _names(store) == {}
    finally:
        store.close()


def _setting(store: LocalStore, name: str) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql(f"SHOW {name}").scalar())


def test_a_replica_commits_without_waiting_for_its_disk_unless_its_url_says(
        sqlite_centre: Centre, targets: Targets) -> None:
    client, into = hanoi_replica(sqlite_centre, targets, "postgresql")
    try:
        assert _setting(client.store, "synchronous_commit") == "off"
        with client.store.engine.begin() as conn:  # every pooled connection has it
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    finally:
        client.close()
    own = LocalStore(f"{into}?options=-c%20synchronous_commit%3Dremote_write")
    try:
        assert _setting(own, "synchronous_commit") == "remote_write"
        assert own.state().bootstrapped  # the same replica, with the URL's choice
    finally:
        own.close()
