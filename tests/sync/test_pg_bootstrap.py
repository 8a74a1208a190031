"""A first bootstrap into PostgreSQL stages the pages' version lines and builds the live
tables' indexes after their rows; the replica ends with every key and index, equal to the
centre, and a second bootstrap (a new epoch) keeps them too."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from registry.sync.client import SyncClient
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets


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
