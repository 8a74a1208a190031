"""A statement left running on a PostgreSQL replica while the client goes on (DESIGN §9.6).

A large release is written in pieces: the client copies a piece into the scratch table,
sends the upsert that moves it into the live table, and decodes and checks the next pages
while the replica's server runs it. Sending it through the driver's usual ``execute``
would block until the server is done, and a second thread would have to win the GIL back
from the decoding one at every step of the driver (that was measured: no gain); libpq's
asynchronous sending does neither.

The statement is kept in the connection's ``info`` under :data:`IN_FLIGHT`, and nothing
else may use the connection until its results are taken: :func:`wait_for_in_flight` makes
every statement SQLAlchemy sends, every commit and every rollback on the engine take them
first (a COPY, which goes to the driver directly, calls :func:`collect` itself).
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from psycopg import errors, generators, pq, waiting
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError

IN_FLIGHT = "registry_in_flight"  # the key of a connection's statement in flight


class InFlight:
    """One statement sent on ``raw`` (a psycopg connection inside a transaction)."""

    def __init__(self, raw: psycopg.Connection[Any], sql: str) -> None:
        self.sql = sql
        self._pgconn = raw.pgconn
        self._encoding = raw.info.encoding
        self._pgconn.send_query(sql.encode(self._encoding))

    def busy(self) -> bool:
        """Whether the server is still running it (reads what has arrived, never waits)."""
        try:
            self._pgconn.consume_input()
        except psycopg.Error:
            return False  # collect() says what went wrong
        return bool(self._pgconn.is_busy())

    def collect(self) -> None:
        """Wait for the statement to end (without holding the GIL) and raise its error as
        SQLAlchemy would have raised it from ``execute``."""
        try:
            results = waiting.wait(generators.fetch_many(self._pgconn), self._pgconn.socket)
        except psycopg.Error as exc:  # the connection broke meanwhile
            raise DBAPIError.instance(self.sql, None, exc, psycopg.Error) from None
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                failed = errors.error_from_result(result, encoding=self._encoding)
                raise DBAPIError.instance(self.sql, None, failed, psycopg.Error) from None


def collect(conn: Connection) -> None:
    """Take the results of ``conn``'s statement in flight, if any (raising its error)."""
    writing = conn.info.pop(IN_FLIGHT, None)
    if writing is not None:
        writing.collect()


def _collect_quietly(conn: Connection) -> None:
    # Its error goes with the rest of the transaction, which is being rolled back anyway.
    with contextlib.suppress(DBAPIError):
        collect(conn)


def _before_statement(conn: Connection, *_args: Any) -> None:
    collect(conn)


def wait_for_in_flight(engine: Engine) -> None:
    """Make every statement, commit and rollback on ``engine`` wait for a statement in
    flight on its connection first (a commit raises its error; a rollback drops it)."""
    event.listen(engine, "before_cursor_execute", _before_statement)
    event.listen(engine, "commit", collect)
    event.listen(engine, "rollback", _collect_quietly)
