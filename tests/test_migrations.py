"""The models and the migrations agree, on both backends (the `alembic check` of DESIGN §10)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from registry.migrate import upgrade
from registry.models import Base
from tests.conftest import Database


def _include(obj: object, name: str | None, type_: str, *_: object) -> bool:
    return not (type_ == "index" and name is not None and name.startswith("ixtrgm_"))


def test_models_and_migrations_agree(database: Database) -> None:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": _include})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_defines_builtins_once(database: Database) -> None:
    assert upgrade(database.engine) is None  # already at head, lists already there
    tables = set(inspect(database.engine).get_table_names())
    assert {"entries", "entry_versions", "feed_records", "feed_head", "lineage_links",
            "change_sets", "operations", "releases", "code_lists"} <= tables


def test_a_model_change_without_migration_is_detected(database: Database) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("unmigrated", metadata, Column("id", Integer, primary_key=True))
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _include})
        diff = compare_metadata(context, metadata)
    assert [d[0] for d in diff] == ["add_table"]
