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


KEY_COLUMNS = {("registry_versions", "code"), ("registry_versions", "list_key"),
               ("registry_versions", "parent_code"), ("registry_lineage", "from_code"),
               ("registry_lineage", "to_code"), ("registry_lists", "list_key"),
               ("registry_stage_versions", "code")}


def _collations(url: str) -> dict[tuple[str, str], str | None]:
    engine = make_engine(normalise_local_url(url))
    try:
        with engine.connect() as conn:
            return {(t, c): k for t, c, k in conn.execute(text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                "WHERE table_name LIKE 'registry_%'"))}
    finally:
        engine.dispose()


def _as_version_3(url: str, view: bool = False) -> None:
    """A PostgreSQL replica as version 3 made it: codes in the database's collation (and,
    with ``view``, a local application's view over the versions' codes)."""
    LocalStore(url).close()
    engine = make_engine(normalise_local_url(url))
    with engine.begin() as conn:
        for table, column in KEY_COLUMNS:
            conn.execute(text(f'ALTER TABLE {table} ALTER COLUMN {column} '
                              'TYPE VARCHAR(64) COLLATE "default"'))
        if view:
            conn.execute(text("CREATE VIEW app_codes AS SELECT code FROM registry_versions"))
        conn.execute(text("UPDATE registry_schema_version SET version = 3"))
    engine.dispose()


def test_a_new_postgresql_replica_compares_codes_byte_by_byte(targets: Targets) -> None:
    url = targets.new("postgresql")
    LocalStore(url).close()
    found = _collations(url)
    assert {found[key] for key in KEY_COLUMNS} == {"C"}
    assert found[("registry_versions", "name")] is None  # names keep the database's


def test_a_version_3_postgresql_replica_is_migrated_to_byte_order_codes(
        targets: Targets) -> None:
    url = targets.new("postgresql")
    _as_version_3(url)
    assert {_collations(url)[key] for key in KEY_COLUMNS} == {None}
    LocalStore(url).close()
    assert {_collations(url)[key] for key in KEY_COLUMNS} == {"C"}


def test_a_code_column_a_local_view_depends_on_keeps_its_collation(
        targets: Targets, caplog: pytest.LogCaptureFixture) -> None:
    url = targets.new("postgresql")
    _as_version_3(url, view=True)
    store = LocalStore(url)  # migrated: the rest changed, the view and its column kept
    found = _collations(url)
    assert found[("registry_versions", "code")] is None
    assert found[("registry_versions", "list_key")] == "C"
    assert "registry_versions.code keeps the database's collation" in caplog.text
    with store.engine.connect() as conn:
        assert conn.scalar(text("SELECT version FROM registry_schema_version")) == 4
        assert conn.scalar(text("SELECT count(*) FROM app_codes")) == 0
    store.close()
