"""The replica's database: upserts and removals per dialect, the cursor, local checksums.

Every change happens inside a transaction that first locks the state row, so two clients
pointed at the same database by mistake queue instead of interleaving, and the cursor is
always written in the same transaction as the rows it accounts for.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from sqlalchemy import (
    Engine,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, make_url

from registry.db import make_engine, normalise_url
from registry.errors import FeedIntegrityError
from registry.services.checksums import ListChecksum, iso, version_digests
from registry.sync.errors import SyncError
from registry.sync.fast_json import attributes_text
from registry.sync.in_flight import IN_FLIGHT, InFlight, collect, wait_for_in_flight
from registry.sync.local_schema import (
    ensure_schema,
    lineage,
    lists,
    metadata,
    releases,
    schema_version,
    stage_lineage,
    stage_lines,
    stage_lists,
    stage_versions,
    sync_state,
    versions,
)
from registry.sync.protocol import (
    SNAPSHOT_VERSION_KEYS,
    Subscription,
    parse_lists,
    parse_scope,
)

BATCH = 2000
# From this many versions in one flush, PostgreSQL upserts them in one set-based statement.
SET_BASED_FROM = 500
# PostgreSQL: an open release writes its versions ahead in pieces of at least this many,
# each as soon as the previous one is written, and never gathers more than the most.
WRITE_AHEAD_FROM = 1000
WRITE_AHEAD_MOST = 20_000
INCOMING = "registry_incoming_versions"
_INCOMING_TABLE = Table(INCOMING, MetaData())  # a session's temporary table, by name only
BULK_VERSION_COLUMNS = ("list_key", "code", "valid_from", "valid_to", "status", "name",
                        "short_name", "name_en", "type", "level", "parent_code", "attributes",
                        "recorded_release", "change_set")


def normalise_local_url(url: str) -> str:
    """Pick the drivers we ship: psycopg 3 for PostgreSQL, PyMySQL (utf8mb4) for MariaDB."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        backend = parsed.get_backend_name()
        parsed = parsed.set(drivername=f"{backend}+pymysql")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _missing(url: str) -> str:
    target = make_url(url)
    if target.get_backend_name() == "sqlite" and not Path(target.database or "").is_file():
        return f"the file {target.database} does not exist"
    return "it has no replica tables"


def _now() -> datetime:
    return datetime.now(UTC)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def version_params(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """A version record as parameters in :data:`BULK_VERSION_COLUMNS` order: dates as ISO
    text and attributes as JSON text, which is what the column types store."""
    return (record["list"], record["code"], record["valid_from"], record["valid_to"],
            record["status"], record["name"], record["short_name"], record["name_en"],
            record["type"], record["level"], record["parent"],
            attributes_text(record["attributes"] or {}), record["release"],
            record["change_set"])


def link_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A link record as a row of ``registry_lineage``."""
    return {"list_key": record["list"], "from_code": record["from"], "to_code": record["to"],
            "effective_date": date.fromisoformat(record["effective_date"]),
            "kind": record["kind"], "is_default": bool(record["default"]),
            "share": record["share"], "release_id": record["release"],
            "change_set": record["change_set"]}


def list_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A list record as a row of ``registry_lists``."""
    definition = record["definition"]
    return {"list_key": record["key"], "name": definition.get("name") or record["key"],
            "name_en": definition.get("name_en"), "owner": definition.get("owner"),
            "definition": definition, "recorded_release": record["release"]}


@dataclass(frozen=True)
class LocalState:
    """The replica's cursor and bookkeeping (one row of ``registry_sync_state``)."""

    source: str | None
    epoch: str | None
    seq: int
    hash: str | None
    release: int
    lists: tuple[str, ...] | None
    scope: str | None
    record_format: int | None
    consumer: str | None
    bootstrapped_at: datetime | None
    applied_at: datetime | None
    last_contact: datetime | None
    head_seq: int | None
    head_release: int | None
    notified_release: int | None
    last_error: str | None
    last_error_at: datetime | None
    stage: dict[str, Any] | None = None

    @property
    def bootstrapped(self) -> bool:
        """Whether a snapshot was ever applied."""
        return self.epoch is not None

    @property
    def subscription(self) -> Subscription:
        """What this replica holds."""
        return Subscription(self.lists, parse_scope(self.scope))


def _state(row: Any) -> LocalState:
    stored = row.lists
    if isinstance(stored, str):  # some drivers hand JSON back as text
        stored = json.loads(stored)
    return LocalState(
        source=row.source, epoch=row.epoch, seq=row.seq, hash=row.hash,
        release=row.release_id, lists=parse_lists(",".join(stored)) if stored else None,
        scope=row.scope, record_format=row.record_format, consumer=row.consumer,
        bootstrapped_at=row.bootstrapped_at, applied_at=row.applied_at,
        last_contact=row.last_contact, head_seq=row.head_seq, head_release=row.head_release,
        notified_release=row.notified_release, last_error=row.last_error,
        last_error_at=row.last_error_at,
        stage=json.loads(row.stage) if isinstance(row.stage, str) else row.stage)


# The state's columns whose LocalState field is named otherwise.
_FIELD_OF_COLUMN = {"release_id": "release"}


def state_after(state: LocalState, values: Mapping[str, Any]) -> LocalState:
    """``state`` with ``values`` (columns, as :meth:`LocalStore.set_state` takes them)
    written: what a transaction that wrote them leaves, without reading it back."""
    fields = {_FIELD_OF_COLUMN.get(column, column): value for column, value in values.items()}
    if fields.get("lists") is not None:
        fields["lists"] = tuple(fields["lists"])
    return replace(state, **fields)


class Batch:
    """Pending changes of one transaction, keyed so that the last record for a key wins."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str, str], tuple[Any, ...] | None] = {}
        self.links: dict[tuple[str, str, str, date], dict[str, Any] | None] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self.scratch = False  # PostgreSQL: this transaction has made sure of its scratch table

    def __len__(self) -> int:
        return len(self.versions) + len(self.links) + len(self.lists)

    def version(self, record: Mapping[str, Any]) -> None:
        """Upsert one version, given as a record (kept as insert parameters)."""
        row = version_params(record)
        self.versions[(row[0], row[1], row[2])] = row

    def remove_version(self, list_key: str, code: str, valid_from: str) -> None:
        """Remove one version."""
        self.versions[(list_key, code, valid_from)] = None

    def link(self, row: dict[str, Any]) -> None:
        """Upsert one link."""
        self.links[(row["list_key"], row["from_code"], row["to_code"],
                    row["effective_date"])] = row

    def remove_link(self, list_key: str, from_code: str, to_code: str, effective: str) -> None:
        """Remove one link."""
        self.links[(list_key, from_code, to_code, date.fromisoformat(effective))] = None

    def code_list(self, row: dict[str, Any]) -> None:
        """Upsert one list definition."""
        self.lists[row["list_key"]] = row


def _version_rows_query(list_key: str, low: str | None, high: str | None,
                        codes: Collection[str] | None) -> Any:
    """The versions of a list (with ``low <= code < high`` when given, or with a code in
    ``codes``), in the centre's checksum column order."""
    v = versions.c
    # The attributes as the stored JSON text, cast by the database: the driver would parse
    # every row's (PostgreSQL's json type) and the checksum encode each object again, where
    # texts repeat and are canonicalised once each (CanonicalAttributes).
    query = select(v.code, type_coerce(v.valid_from, String),
                   type_coerce(v.valid_to, String), v.status, v.name, v.short_name,
                   v.name_en, v.type, v.level, v.parent_code, cast(v.attributes, Text),
                   v.recorded_release, v.change_set).where(v.list_key == list_key)
    if low is not None:
        query = query.where(v.code >= low)
    if high is not None:
        query = query.where(v.code < high)
    if codes is not None:
        query = query.where(v.code.in_(sorted(codes)))
    return query


@lru_cache(maxsize=128)
def _sqlite_version_sql(low: bool, high: bool, codes: int | None) -> str:
    """:func:`_version_rows_query` as SQLite text taking its values in the order list key,
    low, high, codes: compiled once per shape, since a one-record release compiled it
    twice (a millisecond each)."""
    marks = ["\x00list", *(["\x00low"] if low else []), *(["\x00high"] if high else []),
             *sorted(f"\x00code{i:09d}" for i in range(codes or 0))]
    compiled = _version_rows_query(
        marks[0], "\x00low" if low else None, "\x00high" if high else None,
        None if codes is None else marks[1 + low + high:],
    ).compile(dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True})
    order = [compiled.params[name] for name in compiled.positiontup or ()]
    if order != marks:
        raise AssertionError(f"unexpected parameter order {order!r}")
    return str(compiled)


def _replica_commits(dbapi_connection: Any, _record: Any) -> None:
    """A PostgreSQL replica's commits do not wait for its WAL to reach the disk, as logical
    replication's apply worker's do not (a subscription's ``synchronous_commit`` is off by
    default), and for the same reason: the cursor is committed with the rows, so a crash
    of the replica's server loses at most the last releases whole, and the next pull fetches
    them again. A URL whose ``options`` set ``synchronous_commit`` keeps its own choice."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    dbapi_connection.commit()


def _sqlite_cache(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA cache_size = -65536")


class Locked:
    """An open transaction that holds the replica's write lock."""

    def __init__(self, engine: Engine) -> None:
        self.conn = engine.connect()
        try:
            self.txn = self.conn.begin()
            # The state row's lock, so that two clients on one database queue instead of
            # interleaving: SELECT … FOR UPDATE, or on SQLite (which has none) a no-op
            # UPDATE first, which takes the database's write lock at once.
            row = select(sync_state).where(sync_state.c.id == 1)
            if self.conn.dialect.name == "sqlite":
                self.conn.execute(update(sync_state).where(sync_state.c.id == 1)
                                  .values(seq=sync_state.c.seq))
            else:
                row = row.with_for_update()
            self.state = _state(self.conn.execute(row).one())
        except BaseException:
            self.conn.close()
            raise
        self.done = False

    def commit(self) -> None:
        """Commit and release the connection."""
        self.done = True
        try:
            self.txn.commit()
        finally:
            self.conn.close()

    def rollback(self) -> None:
        """Roll back (idempotent) and release the connection."""
        if self.done:
            return
        self.done = True
        try:
            if self.txn.is_active:
                self.txn.rollback()
        finally:
            self.conn.close()


@contextmanager
def _indexes_built_after(conn: Connection, table: str) -> Iterator[None]:
    """Drop ``table``'s primary key and indexes (PostgreSQL), and build them again after the
    caller's bulk insert, in the same transaction."""
    key, indexes = _key_and_indexes(conn, table)
    for name, _ in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    for name, _ in key:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    _build_key_and_indexes(conn, table, key, indexes)


Definitions = list[tuple[str, str]]


def _key_and_indexes(conn: Connection, table: str) -> tuple[Definitions, Definitions]:
    """``table``'s primary key and its other indexes, as (name, definition) pairs."""
    key = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%(t)s) AND contype = 'p'", {"t": table}).all()
    indexes = conn.exec_driver_sql(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass(%(t)s) AND NOT x.indisprimary", {"t": table}).all()
    return [tuple(row) for row in key], [tuple(row) for row in indexes]


def _build_key_and_indexes(conn: Connection, table: str, key: Definitions,
                           indexes: Definitions) -> None:
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    for name, definition in key:
        conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        conn.exec_driver_sql(definition)


# Whether a table is only what the client made of it: nothing else refers to it or hangs
# on it (views, triggers, policies, foreign keys, publications of it, statistics objects,
# grants, comments, inheritance, storage options), and this user owns it. Only such a
# table may be replaced by another one: anything else would be lost with it.
_PLAIN_TABLE = """
SELECT c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND c.relacl IS NULL AND NOT c.relrowsecurity AND c.reloptions IS NULL
   AND c.reltablespace = 0 AND c.relpersistence = 'p'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refobjid = c.oid
                   AND d.classid IN ('pg_rewrite'::regclass, 'pg_trigger'::regclass,
                                     'pg_policy'::regclass, 'pg_publication_rel'::regclass,
                                     'pg_statistic_ext'::regclass))
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.confrelid = c.oid
                   OR (k.conrelid = c.oid AND k.contype <> 'p'))
   AND NOT EXISTS (SELECT 1 FROM pg_description e WHERE e.objoid = c.oid)
   AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE c.oid IN (i.inhrelid, i.inhparent))
FROM pg_class c WHERE c.oid = to_regclass(%(t)s)
"""


def _plain(conn: Connection, table: str) -> bool:
    return bool(conn.exec_driver_sql(_PLAIN_TABLE, {"t": table}).scalar())


def replica_schema(url: str) -> int | None:
    """The sync schema version of the replica at ``url``; ``None`` when there is none there
    (no SQLite file, or no replica tables). Looks without creating or changing anything:
    a SQLite file is opened read-only, so not even its journal mode changes."""
    target = make_url(normalise_local_url(url))
    if target.get_backend_name() == "sqlite":
        path = target.database or ""
        if not path or path == ":memory:" or not Path(path).is_file():
            return None
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
            f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True))
    else:
        engine = create_engine(target)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(schema_version.name):
                return None
            found = conn.scalar(select(schema_version.c.version)
                                .where(schema_version.c.component == "sync"))
            return int(found) if found is not None else None
    finally:
        engine.dispose()


class NoReplica(SyncError):
    """The local database named holds no replica (and was not created)."""

    code = "no_replica"


class LocalStore:
    """One replica database.

    ``create`` makes the replica's tables in an empty database (a first ``pull``); without
    it, a database that holds no replica is refused with :class:`NoReplica` and left as it
    was (``status`` and ``verify`` only look).
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = normalise_local_url(url)
        if not create and replica_schema(self.url) is None:
            raise NoReplica(f"no replica in {_safe(url)}: {_missing(self.url)}; 'registry sync "
                            "pull --from URL --into …' makes one")
        self.engine: Engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        self._upserts: dict[str, Any] = {}
        # PostgreSQL: an open release writes ahead (see wants_flush); False writes each
        # piece synchronously, as benches' baselines do.
        self.write_ahead = True
        if self.dialect == "postgresql":
            wait_for_in_flight(self.engine)
        if self.dialect == "postgresql" and not any(
                "synchronous_commit" in str(value) for value in self.engine.url.query.values()):
            event.listen(self.engine, "connect", _replica_commits)
        if self.dialect == "sqlite":
            # Snapshots write a lot in few transactions: a 64 MB page cache keeps the
            # indexes in memory instead of spilling to the WAL over and over.
            event.listen(self.engine, "connect", _sqlite_cache)
        ensure_schema(self.engine)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    # --- state ---

    def state(self) -> LocalState:
        """The committed state."""
        with self.engine.connect() as conn:
            return _state(conn.execute(select(sync_state).where(sync_state.c.id == 1)).one())

    def begin(self) -> Locked:
        """Open a transaction holding the replica's write lock; the caller ends it."""
        return Locked(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Connection, LocalState]]:
        """A transaction holding the replica's write lock, with the state it locked."""
        locked = self.begin()
        try:
            yield locked.conn, locked.state
        except BaseException:
            locked.rollback()
            raise
        locked.commit()

    def set_state(self, conn: Connection, **values: Any) -> None:
        """Write state fields inside the caller's transaction."""
        if "lists" in values and values["lists"] is not None:
            values["lists"] = list(values["lists"])
        conn.execute(update(sync_state).where(sync_state.c.id == 1).values(**values))

    def note(self, **values: Any) -> None:
        """Write bookkeeping fields (contact, head seen, last error) in a transaction of
        their own; they never move the cursor."""
        with self.engine.begin() as conn:
            conn.execute(update(sync_state).where(sync_state.c.id == 1).values(**values))

    # --- data ---

    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        stmt = self._upserts.get(table.name)
        if stmt is None:
            # Built once per table: a one-record release spent a millisecond building
            # these statements again (SQLAlchemy caches their compiled form, not them).
            stmt = self._upserts[table.name] = self._upsert_statement(table)
        for start in range(0, len(rows), BATCH):
            conn.execute(stmt, rows[start:start + BATCH])

    def _upsert_statement(self, table: Table) -> Any:
        keys = [c.name for c in table.primary_key.columns]
        others = [c.name for c in table.columns if c.name not in keys]
        if self.dialect in ("mysql", "mariadb"):
            my = mysql.insert(table)
            return my.on_duplicate_key_update({n: my.inserted[n] for n in others})
        module: Any = postgresql if self.dialect == "postgresql" else sqlite
        ins = module.insert(table)
        return ins.on_conflict_do_update(index_elements=keys,
                                         set_={n: ins.excluded[n] for n in others})

    def _delete(self, conn: Connection, table: Table, keys: list[tuple[Any, ...]]) -> None:
        if not keys:
            return
        names = [c.name for c in table.primary_key.columns]
        stmt = delete(table).where(and_(*(table.c[n] == bindparam(f"k_{n}") for n in names)))
        conn.execute(stmt, [{f"k_{n}": v for n, v in zip(names, key, strict=True)}
                            for key in keys])

    def _upsert_sql(self, conn: Connection, source: str | None = None) -> str:
        """The upsert of versions: from ``source`` (a table) or from parameters."""
        quote = conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(n) for n in BULK_VERSION_COLUMNS)
        others = [quote(n) for n in BULK_VERSION_COLUMNS
                  if n not in ("list_key", "code", "valid_from")]
        if self.dialect in ("mysql", "mariadb"):
            tail = "ON DUPLICATE KEY UPDATE " + ", ".join(f"{n} = VALUES({n})" for n in others)
        else:
            tail = ("ON CONFLICT (list_key, code, valid_from) DO UPDATE SET "
                    + ", ".join(f"{n} = excluded.{n}" for n in others))
        if source is not None:
            return f"INSERT INTO {versions.name} ({names}) SELECT {names} FROM {source} {tail}"
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        values = ", ".join([mark] * len(BULK_VERSION_COLUMNS))
        return f"INSERT INTO {versions.name} ({names}) VALUES ({values}) {tail}"

    def _upsert_versions(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Upsert versions given as parameters (see :func:`version_params`), in one prepared
        statement: a small release's path."""
        sql = self._upsert_sql(conn)
        for start in range(0, len(rows), BATCH):
            conn.exec_driver_sql(sql, rows[start:start + BATCH])

    def _copy_to_scratch(self, conn: Connection, batch: Batch,
                          rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL: copy versions into the session's scratch table (emptied at commit)."""
        if not batch.scratch:
            conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {INCOMING} (LIKE {versions.name}) "
                "ON COMMIT DELETE ROWS")
            batch.scratch = True
        self.bulk_versions(conn, rows, _INCOMING_TABLE)

    def _from_scratch(self, conn: Connection) -> list[str]:
        """PostgreSQL: the statements that upsert the scratch table's versions into the
        live table and empty it."""
        return [self._upsert_sql(conn, INCOMING), f"TRUNCATE {INCOMING}"]

    def wants_flush(self, conn: Connection, batch: Batch) -> bool:
        """Whether an open release should write what it has gathered now.

        Every :data:`BATCH` records, except on PostgreSQL, where the versions are written
        ahead (:meth:`flush` with ``settle=False``): from :data:`WRITE_AHEAD_FROM`, as soon
        as the previous piece is written, so that the replica's server upserts one piece
        while the client decodes the next; at :data:`WRITE_AHEAD_MOST` the client waits.
        """
        gathered = len(batch)
        if self.dialect != "postgresql" or not self.write_ahead:
            return gathered >= BATCH
        if gathered < WRITE_AHEAD_FROM:
            return False
        writing = conn.info.get(IN_FLIGHT)
        if writing is None or gathered >= WRITE_AHEAD_MOST:
            return True
        return not writing.busy()  # callers ask now and then (apply.FLUSH_LOOK)

    def flush(self, conn: Connection, batch: Batch, settle: bool = True) -> None:
        """Write a batch: removals first, then upserts (their keys are disjoint).

        ``settle=False`` (an open release, on PostgreSQL): a batch of versions only is
        copied into a scratch table and its upsert left running on the server
        (:mod:`.in_flight`); the next flush, and anything else the transaction does,
        waits for it first. Pieces are upserted in the order they came, so the last
        record for a key still wins. Otherwise, on PostgreSQL, many versions are upserted
        from the scratch table in one set-based statement.
        """
        collect(conn)
        rows = [v for v in batch.versions.values() if v is not None]
        if (not settle and self.dialect == "postgresql" and self.write_ahead and rows
                and len(rows) == len(batch)):
            self._copy_to_scratch(conn, batch, rows)
            raw: Any = conn.connection.dbapi_connection
            conn.info[IN_FLIGHT] = InFlight(raw, "; ".join(self._from_scratch(conn)))
            batch.versions.clear()
            return
        self._upsert(conn, lists, list(batch.lists.values()))
        self._delete(conn, versions, [(k[0], k[1], date.fromisoformat(k[2]))
                                      for k, v in batch.versions.items() if v is None])
        if self.dialect == "postgresql" and len(rows) >= SET_BASED_FROM:
            self._copy_to_scratch(conn, batch, rows)
            for statement in self._from_scratch(conn):
                conn.exec_driver_sql(statement)
        elif rows:
            self._upsert_versions(conn, rows)
        self._delete(conn, lineage, [k for k, v in batch.links.items() if v is None])
        self._upsert(conn, lineage, [v for v in batch.links.values() if v is not None])
        batch.versions.clear()
        batch.links.clear()
        batch.lists.clear()

    def insert_rows(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Plain inserts, for a snapshot into emptied tables."""
        if rows:
            conn.execute(table.insert(), rows)

    def bulk_versions(self, conn: Connection, rows: list[tuple[Any, ...]],
                      table: Table = versions) -> None:
        """Insert many versions fast, into tables emptied for a snapshot.

        Each row is in :data:`BULK_VERSION_COLUMNS` order, with dates as ISO text and the
        attributes as JSON text, which is what the SQLAlchemy types store, so the rows read
        back the same. PostgreSQL takes them by COPY, the others by one prepared INSERT.
        """
        if not rows:
            return
        names = ", ".join(BULK_VERSION_COLUMNS)
        if self.dialect == "postgresql":
            collect(conn)  # a COPY goes to the driver directly, past the events that wait
            raw: Any = conn.connection.dbapi_connection
            with raw.cursor().copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO {table.name} ({names}) "
               f"VALUES ({', '.join([mark] * len(BULK_VERSION_COLUMNS))})")
        conn.exec_driver_sql(sql, rows)

    def stage_lines(self, conn: Connection, lines: list[str]) -> None:
        """Stage snapshot version lines as they came (SQLite, PostgreSQL): the database's
        JSON functions turn them into rows when the snapshot is swapped in, faster than
        Python decodes them."""
        if not lines:
            return
        if self.dialect == "postgresql":
            collect(conn)  # a COPY goes to the driver directly, past the events that wait
            raw: Any = conn.connection.dbapi_connection
            with raw.cursor().copy(f"COPY {stage_lines.name} (line) FROM STDIN") as copy:
                for line in lines:
                    copy.write_row((line,))
            return
        conn.exec_driver_sql(f"INSERT INTO {stage_lines.name} (line) VALUES (?)",
                             [(line,) for line in lines])

    def stage_copy(self, conn: Connection, data: bytes, lines: int, where: str) -> None:
        """PostgreSQL: stage snapshot versions given as ``lines`` COPY text lines (the
        columns of COPY_VERSION_COLUMNS), passed to COPY as they are. A line that does not
        fit (too few or many fields, a bad date, attributes that are not JSON) is refused
        with COPY's own words, and so is a page of which COPY took another number of rows
        than it has lines (an end-of-data marker ``\\.`` among them); the caller's
        transaction then writes nothing."""
        collect(conn)  # a COPY goes to the driver directly, past the events that wait
        raw: Any = conn.connection.dbapi_connection
        columns = ", ".join(BULK_VERSION_COLUMNS)
        try:
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY {stage_versions.name} ({columns}) FROM STDIN") as copy:
                    copy.write(data)
                taken = cursor.rowcount
        except psycopg.Error as exc:
            diag = exc.diag
            said = diag.message_primary or str(exc).splitlines()[0]
            context = f" ({diag.context.splitlines()[0]})" if diag.context else ""
            raise FeedIntegrityError(f"{where}: a COPY line of the snapshot does not fit the "
                                     f"replica's versions: {said}{context}; nothing was "
                                     "applied") from None
        if taken != lines:
            raise FeedIntegrityError(f"{where}: COPY took {taken} of the page's {lines} COPY "
                                     "lines as rows; nothing was applied")

    def clear_stage(self, conn: Connection) -> None:
        """Empty the stage tables (a new snapshot begins, or one was promoted)."""
        tables = (stage_versions, stage_lineage, stage_lists, stage_lines)
        if self.dialect == "postgresql":  # transactional, and no dead rows left to vacuum
            conn.exec_driver_sql(f"TRUNCATE {', '.join(t.name for t in tables)}")
            return
        for table in tables:
            conn.execute(delete(table))

    def promote_stage(self, conn: Connection) -> None:
        """Replace the live data with the staged snapshot, inside the caller's transaction."""
        # A first bootstrap fills empty tables: PostgreSQL builds their indexes once, after
        # the rows, several times faster than row by row (nobody can read rows that are
        # not there yet, so the exclusive lock this takes delays no one).
        first = (self.dialect == "postgresql"
                 and conn.execute(select(versions.c.list_key).limit(1)).first() is None)
        for table in (versions, lineage, lists, releases):
            conn.execute(delete(table))
        for live, staged in ((lists, stage_lists), (versions, stage_versions),
                             (lineage, stage_lineage)):
            if (live is versions and first and _plain(conn, versions.name)
                    and _plain(conn, stage_versions.name)):
                self._take_over_staged_versions(conn)
                continue
            names = [c.name for c in live.columns]
            insert = live.insert().from_select(names, select(*(staged.c[n] for n in names)))
            with (_indexes_built_after(conn, live.name) if first and live is not lists
                  else nullcontext()):
                conn.execute(insert)
                if live is versions:
                    self._insert_staged_lines(conn)
        self.clear_stage(conn)

    def _take_over_staged_versions(self, conn: Connection) -> None:
        """PostgreSQL, a first bootstrap: the stage table of versions becomes the live one,
        instead of a copy of a million rows from one to the other. The live table's key
        and indexes are built on it, and a new empty stage table is made."""
        self._insert_staged_lines(conn, stage_versions)
        key, indexes = _key_and_indexes(conn, versions.name)
        conn.exec_driver_sql(f"DROP TABLE {versions.name}")
        conn.exec_driver_sql(f"ALTER TABLE {stage_versions.name} RENAME TO {versions.name}")
        _build_key_and_indexes(conn, versions.name, key, indexes)
        metadata.create_all(conn, tables=[stage_versions])

    def _insert_staged_lines(self, conn: Connection, into: Table = versions) -> None:
        """The staged version lines as rows of the live table (or ``into``). Each line is
        ``[schema, "version", list, code, …]`` in the order of SNAPSHOT_VERSION_KEYS."""
        where = {key: i + 1 for i, key in enumerate(SNAPSHOT_VERSION_KEYS)}
        where["attributes"] = where["attributes_json"]
        where["parent_code"] = where["parent"]
        where["list_key"] = where["list"]
        where["recorded_release"] = where["release"]
        columns = [c.name for c in versions.columns]
        if self.dialect == "sqlite":
            values = ", ".join(f"json_extract(line, '$[{where[c]}]')" for c in columns)
            source = f"{stage_lines.name} ORDER BY rowid"
        elif self.dialect == "postgresql":
            casts = {"valid_from": "date", "valid_to": "date", "attributes": "json",
                     "recorded_release": "integer", "change_set": "integer"}
            values = ", ".join(f"CAST(j ->> {where[c]} AS {casts.get(c, 'text')})"
                               for c in columns)
            # OFFSET 0 keeps the subquery whole: inlined, each line would be parsed once per
            # column.
            source = (f"(SELECT CAST(line AS jsonb) AS j FROM {stage_lines.name} OFFSET 0) "
                      "AS staged")
        else:
            return
        conn.exec_driver_sql(f"INSERT INTO {into.name} ({', '.join(columns)}) "
                             f"SELECT {values} FROM {source}")

    def record_release(self, conn: Connection, release: int, seq: int, digest: str,
                       marker: Mapping[str, Any] | None,
                       removals: list[dict[str, Any]] | None = None) -> None:
        """Remember an applied release (its marker record says what it was)."""
        marker = marker or {}
        row = {"release_id": release, "seq": seq, "hash": digest,
               "published_at": marker.get("published_at"), "title": marker.get("title") or
               marker.get("note"), "effective_date": _date(marker.get("effective_date")),
               "change_set": marker.get("change_set"), "summary": marker.get("summary"),
               "applied_at": _now(), "removals": removals or None}
        self._upsert(conn, releases, [row])

    # --- reading back ---

    def counts(self, conn: Connection | None = None) -> dict[str, dict[str, int]]:
        """Versions and links per list."""
        def run(c: Connection) -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {
                key: {"versions": 0, "links": 0} for key in c.scalars(select(lists.c.list_key))}
            for key, n in c.execute(select(versions.c.list_key, func.count())
                                    .group_by(versions.c.list_key)):
                out.setdefault(key, {"versions": 0, "links": 0})["versions"] = n
            for key, n in c.execute(select(lineage.c.list_key, func.count())
                                    .group_by(lineage.c.list_key)):
                out.setdefault(key, {"versions": 0, "links": 0})["links"] = n
            return out
        if conn is not None:
            return run(conn)
        with self.engine.connect() as c:
            return run(c)

    def version_rows(self, conn: Connection, list_key: str, low: str | None = None,
                     high: str | None = None,
                     codes: Collection[str] | None = None) -> Iterator[Any]:
        """The list's versions (those with ``low <= code < high``, or with a code in
        ``codes``, when given) as plain tuples in the centre's checksum column order, dates
        and attributes as stored (text on SQLite: nothing parsed that the checksum would
        only format again)."""
        if conn.dialect.name == "sqlite":
            # sqlite3's own rows, on the transaction's connection: a million-version
            # checksum spent a fifth of its time making result rows nothing reads twice.
            values = [list_key, *([low] if low is not None else []),
                      *([high] if high is not None else []),
                      *(sorted(codes) if codes is not None else [])]
            sql = _sqlite_version_sql(low is not None, high is not None,
                                      None if codes is None else len(codes))
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            return iter(cursor.execute(sql, values))
        query = _version_rows_query(list_key, low, high, codes)
        # Options on the statement, not the connection: the connection may be a release's
        # transaction, whose later statements must not be streamed (or executemany fails).
        result = conn.execute(query.execution_options(stream_results=True, yield_per=5000))
        return iter(result.tuples())

    def version_records(self, conn: Connection, list_key: str | None = None,
                        release: int | None = None) -> Iterator[dict[str, Any]]:
        """The versions of a list, or those a release recorded (in every list, by key),
        in the record vocabulary (for checksums, verify and replayed notifications)."""
        query = select(versions)
        if list_key is not None:
            query = query.where(versions.c.list_key == list_key)
        if release is not None:
            # No index on it: one scan in the database, not every row of every list it
            # touched read into Python (seconds a release at a million versions).
            query = query.where(versions.c.recorded_release == release).order_by(
                versions.c.list_key, versions.c.code, versions.c.valid_from)
        result = conn.execute(query.execution_options(stream_results=True, yield_per=5000))
        for row in result:
            attributes = row.attributes
            if isinstance(attributes, str):
                attributes = json.loads(attributes)
            yield {"list": row.list_key, "code": row.code, "valid_from": iso(row.valid_from),
                   "valid_to": iso(row.valid_to), "status": row.status, "name": row.name,
                   "short_name": row.short_name, "name_en": row.name_en, "type": row.type,
                   "level": row.level, "parent": row.parent_code,
                   "attributes": attributes or {}, "release": row.recorded_release,
                   "change_set": row.change_set}

    def link_records(self, conn: Connection, list_key: str | None = None,
                     from_codes: Collection[str] | None = None,
                     release: int | None = None) -> Iterator[dict[str, Any]]:
        """The links of a list (those from a code in ``from_codes``, when given), or
        those a release recorded (by key), in the record vocabulary."""
        query = select(lineage)
        if list_key is not None:
            query = query.where(lineage.c.list_key == list_key)
        if from_codes is not None:
            query = query.where(lineage.c.from_code.in_(sorted(from_codes)))
        if release is not None:
            query = query.where(lineage.c.release_id == release).order_by(
                lineage.c.list_key, lineage.c.from_code, lineage.c.to_code,
                lineage.c.effective_date)
        for row in conn.execute(query):
            yield {"list": row.list_key, "from": row.from_code, "to": row.to_code,
                   "kind": row.kind, "default": bool(row.is_default), "share": row.share,
                   "effective_date": iso(row.effective_date), "release": row.release_id,
                   "change_set": row.change_set}

    def release_records(self, conn: Connection, release: int) -> dict[str, list[dict[str, Any]]]:
        """Versions and links recorded by ``release`` that this replica holds."""
        return {"versions": [{"t": "version", **r}
                             for r in self.version_records(conn, release=release)],
                "links": [{"t": "link", **r} for r in self.link_records(conn, release=release)]}

    def definitions(self, conn: Connection) -> dict[str, tuple[dict[str, Any], int]]:
        """Every list's definition and the release that recorded it."""
        out: dict[str, tuple[dict[str, Any], int]] = {}
        for row in conn.execute(select(lists.c.list_key, lists.c.definition,
                                       lists.c.recorded_release)):
            definition = row.definition
            if isinstance(definition, str):
                definition = json.loads(definition)
            out[row.list_key] = (definition, row.recorded_release)
        return out

    def checksums(self, keys: Iterable[str] | None = None, conn: Connection | None = None,
                  skip_versions: Collection[str] = ()) -> dict[str, ListChecksum]:
        """Per-list checksums of what this replica holds (the centre's computation);
        without the versions of the lists in ``skip_versions`` (summed elsewhere)."""
        def run(c: Connection) -> dict[str, ListChecksum]:
            definitions = self.definitions(c)
            # A list this replica does not hold has no checksum here (not a zero one), so
            # that it is reported missing.
            wanted = sorted(definitions if keys is None else set(keys) & set(definitions))
            out: dict[str, ListChecksum] = {}
            for key in wanted:
                sums = out[key] = ListChecksum(key)
                if key in definitions:
                    sums.set_definition(*definitions[key])
                if key not in skip_versions:
                    sums.add_version_digests(version_digests(key, self.version_rows(c, key)))
                for link in self.link_records(c, key):
                    sums.add_link(link)
            return out
        if conn is not None:
            return run(conn)
        with self.engine.connect() as c:
            return run(c)
