"""The hot read statements run on psycopg directly, on PostgreSQL's autocommit readers.

SQLAlchemy's work around each execution (the compiled-cache lookup, parameter processing,
the result set-up and its Row objects) cost about 0.14 ms of the 0.5 ms an entry lookup
took on a loopback server: as much as the read itself. On an autocommit PostgreSQL
connection (the GraphQL readers: registry.graphql.context), the statements the reads
repeat, written with SQLAlchemy Core and built once, are compiled once to SQL text and run
on the driver connection, prepared on the server. Anywhere else (SQLite, MariaDB, a
session in its transaction) they go through SQLAlchemy as before. Both ways give the same
tuples: the columns involved (text, integers, dates, floats, booleans, JSON) are decoded by
psycopg either way. A read of many rows (a change page's thousand records, which the
release's first follower waits for) runs on the driver on any PostgreSQL connection, in a
transaction too: :func:`many_rows`.

Each statement run this way is announced to the listeners added with :func:`listen`, as
SQLAlchemy's ``before_cursor_execute`` announces the others: a count of the statements a
request costs sees both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

Listener = Callable[[str], None]
_listeners: list[Listener] = []
FailureListener = Callable[[Connection, BaseException], None]
_failure_listeners: list[FailureListener] = []
Processors = dict[str, Callable[[Any], Any]]
# statement id -> (the statement, kept so the id stays its own; SQL text; default values;
# the bind processors SQLAlchemy would apply, such as JSON's serialiser)
_compiled: dict[int, tuple[Executable, str, dict[str, Any], Processors]] = {}
_lock = threading.Lock()


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener(sql)`` before each statement run directly; returns the remover."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def on_failure(listener: FailureListener) -> None:
    """Call ``listener(connection, error)`` when a statement run directly fails, as
    SQLAlchemy's ``handle_error`` does for the others."""
    if listener not in _failure_listeners:
        _failure_listeners.append(listener)


def _direct(reader: Session | Connection) -> bool:
    return (isinstance(reader, Connection) and reader.dialect.name == "postgresql"
            and bool(getattr(reader.connection.dbapi_connection, "autocommit", False)))


def _compile(statement: Executable,
             reader: Connection) -> tuple[str, dict[str, Any], Processors]:
    found = _compiled.get(id(statement))
    if found is None:
        compiled = statement.compile(dialect=reader.dialect)  # type: ignore[attr-defined]
        sql = str(compiled)
        if "POSTCOMPILE" in sql:
            raise ValueError("a statement run directly cannot expand parameters")
        processors = dict(compiled._bind_processors)  # what SQLAlchemy applies per execution
        with _lock:
            found = _compiled[id(statement)] = (statement, sql, dict(compiled.params),
                                                processors)
    return found[1], found[2], found[3]


def rows(reader: Session | Connection, statement: Executable,
         params: dict[str, Any]) -> Sequence[Any]:
    """All rows of ``statement`` with ``params``, as tuples (or SQLAlchemy rows)."""
    if not _direct(reader):
        return list(reader.execute(statement, params))
    assert isinstance(reader, Connection)
    return _on_driver(reader, statement, params)


def many_rows(conn: Connection, statement: Executable,
              params: dict[str, Any]) -> Sequence[Any]:
    """All rows of ``statement``, as :func:`rows` gives them, run on the driver on any
    PostgreSQL connection, inside a transaction too: for a read of a thousand rows (a
    change page), whose Row objects cost SQLAlchemy as long as the server took."""
    if conn.dialect.name != "postgresql":
        return list(conn.execute(statement, params))
    return _on_driver(conn, statement, params)


def _on_driver(reader: Connection, statement: Executable,
               params: dict[str, Any]) -> Sequence[Any]:
    sql, defaults, processors = _compile(statement, reader)
    values = {**defaults, **params}
    for name, process in processors.items():
        if name in values:
            values[name] = process(values[name])
    for listener in _listeners:
        listener(sql)
    # The DB-API connection: psycopg's own, or SQLAlchemy's adaptor of its asyncio one
    # (registry.graphql.planned.readers), whose cursor awaits through the greenlet.
    cursor: Any = reader.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, values, prepare=True)
        return cursor.fetchall()  # type: ignore[no-any-return]
    except psycopg.Error as exc:
        for failed in _failure_listeners:
            failed(reader, exc)
        # As SQLAlchemy would: its own exception class (callers catch DBAPIError), and a
        # connection the server dropped marked unusable, so that its owner opens another.
        if isinstance(exc, psycopg.OperationalError):
            reader.invalidate()
        raise DBAPIError.instance(sql, values, exc, psycopg.Error) from exc
    finally:
        if not reader.invalidated:
            cursor.close()
