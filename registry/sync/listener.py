"""A PostgreSQL centre announces each move of the feed head; long polls wake at once.

The publisher sends ``NOTIFY registry_feed`` (:func:`registry.services.feed.announce`) in
the transaction that moves the head (PostgreSQL delivers it at commit, never for a
rollback). One listening connection per server process, on a thread of its own, turns
each notification into a wake-up of the :class:`~registry.sync.watcher.HeadWatcher`, which
then reads the head as before. SQLite has no such channel: there the watcher keeps
polling.

A notification is only a hint to read the head now; the head row stays the truth. If the
listening connection drops, the watcher polls at its short interval until the connection
is back (and reads the head once on reconnecting, for what it may have missed).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine

from registry.services.feed import CHANNEL

log = logging.getLogger("registry.sync")

RETRY_SECONDS = 1.0
LISTEN_VARIABLE = "REGISTRY_SYNC_LISTEN"


class FeedListener:
    """Listens on :data:`CHANNEL` (or another channel) on a thread and calls ``wake`` for
    every notification (and after each (re)connection)."""

    def __init__(self, engine: Engine, channel: str = CHANNEL) -> None:
        self._channel = channel
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._wake: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.connections = 0  # how many times it (re)connected
        self.notifications = 0  # how many it received

    @staticmethod
    def for_engine(engine: Engine, channel: str = CHANNEL) -> FeedListener | None:
        """A listener for a PostgreSQL engine; ``None`` for other databases, and when
        ``REGISTRY_SYNC_LISTEN=0`` (behind a pooler in transaction mode, which does not
        keep a session's LISTEN)."""
        if engine.dialect.name != "postgresql" or os.environ.get(LISTEN_VARIABLE) == "0":
            return None
        return FeedListener(engine, channel)

    def start(self, wake: Callable[[], None]) -> None:
        """Start listening (once); ``wake`` is called from the listening thread."""
        self._wake = wake
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"{self._channel}-listener",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop listening (the thread ends within a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True,
                                     connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    self.connections += 1
                    self.connected.set()
                    self._call()  # whatever was published while nobody listened
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.notifications += 1
                            self._call()
            except psycopg.Error as exc:
                if self.connected.is_set():
                    log.warning("feed notifications lost (%s); polling the head until the "
                                "connection is back", str(exc).strip().splitlines()[0]
                                if str(exc).strip() else type(exc).__name__)
                self.connected.clear()
                self._stop.wait(RETRY_SECONDS)
        self.connected.clear()

    def _call(self) -> None:
        if self._wake is not None:
            self._wake()
