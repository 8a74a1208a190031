"""PostgreSQL replicas: a first bootstrap stages the pages' version lines and builds the
live tables' indexes after their rows; a large release is upserted in one set-based
statement. The replica ends with every key and index, equal to the centre."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, event, inspect

from registry.sync.client import SyncClient
from registry.sync.local_store import (
    BATCH,
    INCOMING,
    SET_BASED_FROM,
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


# --- a release's versions in one statement, however many flushes it spans ---

def _upserts_from_scratch(engine: Any) -> list[str]:
    """Collect the statements that upsert from the scratch table, as they are sent."""
    sent: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO registry_versions") and INCOMING in statement:
            sent.append(statement)
    event.listen(engine, "before_cursor_execute", before)
    return sent


def test_a_release_over_many_flushes_is_upserted_in_one_statement(
        sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    full, _into = hanoi_replica(centre, targets, "postgresql")
    # A replica of one list follows deltas, and checks checksums after the upsert.
    some = SyncClient(centre.base, targets.new("postgresql"),
                      subscription=Subscription(lists=("admin-units",)))
    try:
        some.pull()
        sent = {client: _upserts_from_scratch(client.store.engine) for client in (full, some)}
        codes = [f"{n:05d}" for n in range(10_000, 10_000 + 2 * BATCH + 300)]
        centre.publish([unit(code, f"Phường {code}", "Phường", "001") for code in codes])
        for client in (full, some):
            assert client.pull().releases == 1
            assert len(sent[client]) == 1  # three flushes, one upsert
            assert client.verify().ok
    finally:
        full.close()
        some.close()


def _row(code: str, name: str) -> tuple[Any, ...]:
    return version_params({"list": "l", "code": code, "valid_from": "2025-01-01",
                           "valid_to": None, "status": "active", "name": name,
                           "short_name": None, "name_en": None, "type": "t", "level": "x",
                           "parent": None, "attributes": {}, "release": 1, "change_set": 1})


def _names(store: LocalStore) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT code, name FROM registry_versions").all())


@pytest.mark.parametrize("later", ["again", "removed"])
def test_a_key_staged_then_written_again_ends_as_written_last(
        targets: Targets, monkeypatch: pytest.MonkeyPatch, later: str) -> None:
    store = LocalStore(targets.new("postgresql"))
    try:
        sent = _upserts_from_scratch(store.engine)
        with store.engine.begin() as conn:
            batch = Batch()
            for code in ("a", "b"):
                batch.versions[("l", code, "2025-01-01")] = _row(code, f"{code} 1")
            store.flush(conn, batch, settle=False)  # staged, not upserted
            assert sent == [] and batch.staged == {("l", "a", "2025-01-01"),
                                                   ("l", "b", "2025-01-01")}
            if later == "again":
                batch.versions[("l", "a", "2025-01-01")] = _row("a", "a 2")
            else:
                batch.remove_version("l", "a", "2025-01-01")
            store.flush(conn, batch, settle=False)
            assert len(sent) == 1  # the staged upsert went first
            store.flush(conn, batch)
        assert _names(store) == ({"a": "a 2", "b": "b 1"} if later == "again"
                                 else {"b": "b 1"})
    finally:
        store.close()


def test_what_is_staged_is_bounded(targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("registry.sync.local_store.STAGE_AT_MOST", 3)
    store = LocalStore(targets.new("postgresql"))
    try:
        sent = _upserts_from_scratch(store.engine)
        with store.engine.begin() as conn:
            batch = Batch()
            for n in range(4):
                batch.versions[("l", f"c{n}", "2025-01-01")] = _row(f"c{n}", "x")
                store.flush(conn, batch, settle=False)
            assert len(sent) == 1 and len(batch.staged) == 1  # three, then the fourth
            store.flush(conn, batch)
        assert len(sent) == 2 and len(_names(store)) == 4
    finally:
        store.close()


def test_a_release_that_fails_leaves_nothing_staged(targets: Targets) -> None:
    store = LocalStore(targets.new("postgresql"))
    try:
        with pytest.raises(RuntimeError), store.engine.begin() as conn:
            batch = Batch()
            batch.versions[("l", "a", "2025-01-01")] = _row("a", "a")
            store.flush(conn, batch, settle=False)
            raise RuntimeError("the next page does not verify")
        assert _names(store) == {}
        with store.engine.begin() as conn:  # the next transaction stages afresh
            batch = Batch()
            batch.versions[("l", "a", "2025-01-01")] = _row("a", "a 2")
            store.flush(conn, batch, settle=False)
            store.flush(conn, batch)
        assert _names(store) == {"a": "a 2"}
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
