"""PostgreSQL replicas: a first bootstrap stages the pages' version lines and builds the
live tables' indexes after their rows; a large release is upserted in one set-based
statement. The replica ends with every key and index, equal to the centre."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from registry.sync.client import SyncClient
from registry.sync.local_store import INCOMING, SET_BASED_FROM
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
