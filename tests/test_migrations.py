"""The models and the migrations agree, on both backends (the `alembic check` of DESIGN §10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

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


def test_upgrading_a_populated_database_keeps_its_data_and_its_keys(database: Database) -> None:
    """0003 rebuilds tables that others reference; on SQLite that needs foreign keys off."""
    from alembic import command
    from sqlalchemy import text

    from registry.db import session_factory, transaction
    from registry.migrate import alembic_config
    from tests.factories import hanoi

    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
    config = alembic_config(database.engine)
    with database.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    upgrade(database.engine)
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entry_versions")).scalar() == 7
        if database.backend == "sqlite":  # switched back on for the pooled connection
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # The composite key now ties a version's code to its entry's.
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            conn.execute(text("UPDATE entry_versions SET code = '00099' WHERE code = '00001'"))


def test_a_sqlite_upgrade_that_would_break_keys_changes_nothing(tmp_path: Path) -> None:
    """The key check runs before the commit, and the connection gets its keys back."""
    from alembic import command
    from sqlalchemy import text

    from registry.db import make_engine, session_factory, transaction
    from registry.migrate import alembic_config, current_revision
    from tests.factories import hanoi

    engine = make_engine(f"sqlite:///{tmp_path / 'broken.db'}")
    upgrade(engine)
    with transaction(session_factory(engine)) as session:
        hanoi(session)
    config = alembic_config(engine)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    with engine.begin() as conn:  # a row 0003's composite key will not accept
        conn.execute(text("UPDATE entry_versions SET code = 'XX' WHERE code = '00001'"))
    with pytest.raises(RuntimeError, match="would break foreign keys"):
        upgrade(engine)
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM entry_versions "
                                 "WHERE code = 'XX'")).scalar() == 1
    engine.dispose()
