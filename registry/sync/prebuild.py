"""The walk of a release's snapshot ahead of its replicas: where it is, and its lock.

One process of a PostgreSQL centre walks a release at a time. It holds a session-level
advisory lock, named by the epoch and the release, on a connection of its own for as long
as the walk lasts.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import Connection, Engine, func, select

log = logging.getLogger("registry.sync")


def lock_key(epoch: str, release: int) -> int:
    """The advisory lock of the walk of ``release`` in ``epoch`` (a signed 64-bit key)."""
    digest = hashlib.sha256(f"registry snapshot walk {epoch} {release}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ReleaseWalk:
    """A walk through the pages of one release's whole-registry snapshot."""

    def __init__(self, engine: Engine, epoch: str, release: int,
                 encodings: list[str] | None = None) -> None:
        self.engine = engine
        self.epoch = epoch
        self.release = release
        self.token: str | None = None  # the next page's position; None: the first page
        # The line encodings to build, one whole walk each: the current one first.
        self._encodings = list(encodings or ["json"])
        self.lines = self._encodings.pop(0)
        self._lock: Connection | None = None

    def next_encoding(self) -> bool:
        """After the last page: start over from the first page in the next encoding;
        False when there is none (the walk is over)."""
        if not self._encodings:
            return False
        self.lines, self.token = self._encodings.pop(0), None
        return True

    @property
    def locked(self) -> bool:
        return self._lock is not None

    def lock(self) -> bool:
        """Take the walk's lock; False when another process holds it."""
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if conn.scalar(select(func.pg_try_advisory_lock(lock_key(self.epoch,
                                                                     self.release)))):
                self._lock = conn
                return True
        except Exception:
            conn.close()
            raise
        conn.close()
        return False

    def unlock(self) -> None:
        """Give the lock back (a no-op when not held)."""
        conn, self._lock = self._lock, None
        if conn is None:
            return
        try:
            conn.scalar(select(func.pg_advisory_unlock(lock_key(self.epoch, self.release))))
        except Exception:  # back in the pool the connection would keep the lock: drop it
            log.warning("the lock of the walk of release %s was not given back; its "
                        "connection is closed instead", self.release, exc_info=True)
            conn.invalidate()
        finally:
            conn.close()
