"""Write-behind for large publications: the database inserts while Python builds the next batch.

Publishing the 2025 reform spends about as long in PostgreSQL (COPY, index and foreign-key
work) as in Python (building versions and hashing feed records). A worker thread that owns
the connection for the duration lets the two overlap on a machine with two cores; psycopg
releases the GIL while it waits for the server. On SQLite the writes simply run in line.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Executable, Table
from sqlalchemy.orm import Session

from registry.db import insert_rows

Job = Callable[[Connection], object]
DEPTH = 4  # batches queued at most: bounds the memory held for the worker


class WriteBehind:
    """Queue inserts and statements; :meth:`close` waits for them and re-raises any error.

    Between opening and closing, the caller must not use the session: the worker owns its
    connection.
    """

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self._threaded = self.connection.dialect.name == "postgresql"
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=DEPTH)
        self._error: BaseException | None = None  # until reported to the caller
        self._failed = False
        self._worker: threading.Thread | None = None
        if self._threaded:
            self._worker = threading.Thread(target=self._run, name="write-behind", daemon=True)
            self._worker.start()

    def insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (the list is handed over: do not reuse it)."""
        if rows:
            self._submit(lambda connection: insert_rows(connection, table, rows))

    def execute(self, statement: Executable) -> None:
        """Run a statement whose result nobody needs."""
        self._submit(lambda connection: connection.execute(statement))

    def _submit(self, job: Job) -> None:
        self._raise()
        if self._failed:  # reported already; writing on would lose rows silently
            raise RuntimeError("an earlier queued write failed: roll the transaction back")
        if self._threaded:
            self._jobs.put(job)
            return
        try:
            job(self.connection)
        except BaseException:
            self._failed = True
            raise

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not self._failed:  # after a failure, drain without running
                try:
                    job(self.connection)
                except BaseException as exc:  # handed over to the caller's thread
                    self._error = exc
                    self._failed = True

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Wait for every queued write; raise the first error any of them met."""
        if self._worker is not None:
            self._jobs.put(None)
            try:
                self._worker.join()
            except BaseException:
                # Interrupted (Ctrl-C): the caller will roll back on this connection, so the
                # worker must be done with it first. It skips what is left, then stops.
                self._failed = True
                self._worker.join()
                raise
            finally:
                self._worker = None
        self._raise()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        with suppress(BaseException):  # the caller's own error is the one to report
            self.close()
