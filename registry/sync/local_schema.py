"""The replica's own schema: small, documented, the same on SQLite, PostgreSQL and MariaDB.

Local applications query these tables directly (docs/sync-protocol.md, "Local schema").
The client creates them on first use and migrates them with ``registry_schema_version``;
it never needs Alembic or the centre's schema. Every name starts with ``registry_`` so the
tables can live in an application's own database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from registry.sync.errors import UpgradeRequired

log = logging.getLogger("registry.sync")
SCHEMA_VERSION = 4
metadata = MetaData()


def _key(length: int = 64) -> TypeEngine[str]:
    # Codes are exact: compared byte by byte. MariaDB compares text case- and
    # accent-insensitively by default; PostgreSQL by the database's locale, at a cost to
    # every index comparison (with a Vietnamese ICU collation, building the versions' key
    # over a million rows took 1.5 times as long as with "C"; with C.UTF-8, 1.2 times).
    return (String(length)
            .with_variant(String(length, collation="utf8mb4_bin"), "mysql", "mariadb")
            .with_variant(String(length, collation="C"), "postgresql"))


schema_version = Table(
    "registry_schema_version", metadata,
    Column("component", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
)

def _list_columns(keys: bool = True) -> list[Column[Any]]:
    return [
        Column("list_key", _key(), primary_key=keys),
        Column("name", Text, nullable=False),
        Column("name_en", Text),
        Column("owner", Text),
        Column("definition", JSON, nullable=False),
        Column("recorded_release", Integer, nullable=False),
    ]


def _version_columns(keys: bool = True) -> list[Column[Any]]:
    return [
        Column("list_key", _key(), primary_key=keys),
        Column("code", _key(), primary_key=keys),
        Column("valid_from", Date, primary_key=keys),
        Column("valid_to", Date),
        Column("status", String(16), nullable=False),
        Column("name", Text, nullable=False),
        Column("short_name", Text),
        Column("name_en", Text),
        Column("type", String(64), nullable=False),
        Column("level", String(64), nullable=False),
        Column("parent_code", _key()),
        Column("attributes", JSON, nullable=False),
        Column("recorded_release", Integer, nullable=False),
        Column("change_set", Integer),
    ]


def _lineage_columns(keys: bool = True) -> list[Column[Any]]:
    return [
        Column("list_key", _key(), primary_key=keys),
        Column("from_code", _key(), primary_key=keys),
        Column("to_code", _key(), primary_key=keys),
        Column("effective_date", Date, primary_key=keys),
        Column("kind", String(8), nullable=False),
        Column("is_default", Boolean, nullable=False),
        Column("share", Double),
        Column("release_id", Integer, nullable=False),
        Column("change_set", Integer),
    ]


lists = Table("registry_lists", metadata, *_list_columns())
versions = Table("registry_versions", metadata, *_version_columns(),
                 Index("ix_registry_versions_parent", "list_key", "parent_code"))
lineage = Table("registry_lineage", metadata, *_lineage_columns(),
                Index("ix_registry_lineage_to", "list_key", "to_code"))

# A snapshot is written here page by page, each page committed with its position, so an
# interrupted bootstrap resumes where it stopped; one transaction then replaces the live
# tables with these, so local applications switch from the old state to the new at once.
# No keys on them: a page and its position commit together, so rows are never written
# twice, and an index would only slow the bulk writes down.
stage_lists = Table("registry_stage_lists", metadata, *_list_columns(keys=False))
stage_versions = Table("registry_stage_versions", metadata, *_version_columns(keys=False))
stage_lineage = Table("registry_stage_lineage", metadata, *_lineage_columns(keys=False))
# On SQLite, snapshot versions are staged as the page's own JSON lines, one parameter a row,
# and turned into rows by SQLite's JSON functions when the snapshot is swapped in: the
# cheapest way through Python's sqlite3 module.
stage_lines = Table("registry_stage_lines", metadata, Column("line", Text, nullable=False))

releases = Table(
    "registry_releases", metadata,
    Column("release_id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("published_at", String(40)),
    Column("title", Text),
    Column("effective_date", Date),
    Column("change_set", Integer),
    Column("summary", JSON),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    # Removals the release applied (scoped replicas), kept so that a notification lost to a
    # crash can be replayed whole: unlike versions, they leave nothing in the live tables.
    Column("removals", JSON),
)

sync_state = Table(
    "registry_sync_state", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("source", Text),
    Column("epoch", String(64)),
    Column("seq", Integer, nullable=False, default=0),
    Column("hash", String(64)),
    Column("release_id", Integer, nullable=False, default=0),
    Column("lists", JSON),
    Column("scope", String(140)),
    Column("record_format", Integer),
    Column("consumer", String(128)),
    Column("bootstrapped_at", DateTime(timezone=True)),
    Column("applied_at", DateTime(timezone=True)),
    Column("last_contact", DateTime(timezone=True)),
    Column("head_seq", Integer),
    Column("head_release", Integer),
    Column("notified_release", Integer),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    # The snapshot being written into the stage tables, if any (see stage_versions).
    Column("stage", JSON),
)

def _v1_to_v2(conn: Connection) -> None:
    """Version 2 stages snapshots, so that an interrupted bootstrap resumes."""
    metadata.create_all(conn, tables=[stage_lists, stage_versions, stage_lineage,
                                      stage_lines])
    kind = JSON().compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {sync_state.name} ADD COLUMN stage {kind}")


def _v2_to_v3(conn: Connection) -> None:
    """Version 3 keeps each release's removals, for notifications replayed after a crash."""
    kind = JSON().compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {releases.name} ADD COLUMN removals {kind}")


def _v3_to_v4(conn: Connection) -> None:
    """Version 4 compares codes byte by byte on PostgreSQL (``COLLATE "C"``, see
    :func:`_key`). A column that a local view or rule depends on keeps its collation
    (PostgreSQL refuses to alter it): the replica works the same, a little slower."""
    if conn.dialect.name != "postgresql":
        return
    for table in metadata.sorted_tables:
        for column in table.columns:
            impl = column.type.dialect_impl(conn.dialect)
            if getattr(impl, "collation", None) != "C":
                continue
            kind = impl.compile(dialect=conn.dialect)
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(f'ALTER TABLE {table.name} ALTER COLUMN '
                                         f'{column.name} TYPE {kind}')
            except DBAPIError as exc:
                log.warning("%s.%s keeps the database's collation: %s", table.name,
                            column.name, str(exc.orig).splitlines()[0])


# Steps from version N to N+1, each run in a transaction of its own.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3,
                                                       3: _v3_to_v4}


def ensure_schema(engine: Engine) -> int:
    """Create the local tables, or migrate them to :data:`SCHEMA_VERSION`; return it.

    A database written by a newer client is left alone, with a clear message.
    """
    with engine.begin() as conn:
        if not inspect(conn).has_table(schema_version.name):
            metadata.create_all(conn)
            conn.execute(schema_version.insert().values(component="sync",
                                                        version=SCHEMA_VERSION))
            conn.execute(sync_state.insert().values(id=1, seq=0, release_id=0))
            return SCHEMA_VERSION
        found = conn.scalar(select(schema_version.c.version)
                            .where(schema_version.c.component == "sync"))
    current = int(found or 0)
    if current > SCHEMA_VERSION:
        raise UpgradeRequired(f"the local database has sync schema version {current}, newer "
                              f"than this client's {SCHEMA_VERSION}: upgrade the registry "
                              "package; nothing was changed")
    while current < SCHEMA_VERSION:
        with engine.begin() as conn:
            MIGRATIONS[current](conn)
            current += 1
            conn.execute(schema_version.update().where(schema_version.c.component == "sync")
                         .values(version=current))
    return current
