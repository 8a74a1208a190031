"""The replica's own schema: created on first use, migrated forward, never touched by an
older client (§9.9)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from registry.db import make_engine
from registry.sync.errors import UpgradeRequired
from registry.sync.local_schema import SCHEMA_VERSION, metadata
from registry.sync.local_store import LocalStore, normalise_local_url
from tests.sync.conftest import TARGETS, Targets

STAGE_TABLES = ("registry_stage_lists", "registry_stage_versions", "registry_stage_lineage",
                "registry_stage_lines")


@pytest.mark.parametrize("target", TARGETS)
def test_a_version_1_replica_is_migrated_in_place(targets: Targets, target: str) -> None:
    url = targets.new(target)
    engine = make_engine(normalise_local_url(url))
    # The schema as the first client version created it: no stage tables, no stage column.
    metadata.create_all(engine, tables=[t for t in metadata.sorted_tables
                                        if t.name not in STAGE_TABLES])
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE registry_sync_state DROP COLUMN stage"))
        conn.execute(text("ALTER TABLE registry_releases DROP COLUMN removals"))  # from v3
        conn.execute(text("INSERT INTO registry_schema_version VALUES ('sync', 1)"))
        conn.execute(text("INSERT INTO registry_sync_state (id, seq, release_id) "
                          "VALUES (1, 0, 0)"))
    store = LocalStore(url)
    assert store.state().stage is None and not store.state().bootstrapped
    names = set(inspect(store.engine).get_table_names())
    assert set(STAGE_TABLES) <= names
    assert "removals" in {c["name"] for c in inspect(store.engine).get_columns(
        "registry_releases")}
    with store.engine.connect() as conn:
        assert conn.scalar(text("SELECT version FROM registry_schema_version")) == \
            SCHEMA_VERSION
    store.close()
    engine.dispose()


def test_a_replica_written_by_a_newer_client_is_left_alone(targets: Targets) -> None:
    url = targets.new("sqlite")
    LocalStore(url).close()
    engine = make_engine(normalise_local_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE registry_schema_version SET version = 99"))
    with pytest.raises(UpgradeRequired) as caught:
        LocalStore(url)
    assert "schema version 99" in caught.value.message
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version FROM registry_schema_version")) == 99
    engine.dispose()
