"""Planned reads that wait for PostgreSQL without holding the event loop.

On the loop, a read blocks every other request while it waits for the database: at 16
clients a search's milliseconds in PostgreSQL stalled every quick lookup behind it, and
about half of a lookup's time was such waiting. Here the same synchronous read code runs
on a connection of an asyncio engine (SQLAlchemy's ``run_sync``: each statement's wait
yields to the loop through a greenlet), so requests overlap their database time and the
database answers several at once, with no thread hand-off. Python's own work stays one
request at a time.

The readers belong to the event loop of the server that started them (the app's lifespan,
which uvicorn runs): a request on any other loop (an in-process test client) reads on the
loop as before. SQLite and MariaDB always read on the loop, through the request's session.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from registry.graphql.metrics import READERS

T = TypeVar("T")
DEFAULT_READERS = 4


class OtherLoop(Exception):
    """The readers belong to another event loop: read on this one instead."""


class AsyncReaders:
    """Up to ``size`` autocommit connections, each lent to one request at a time."""

    def __init__(self, engine: Engine, size: int = DEFAULT_READERS) -> None:
        self.size = size
        self.engine: AsyncEngine = create_async_engine(
            engine.url, pool_size=size, max_overflow=0, isolation_level="AUTOCOMMIT")
        self.loop = asyncio.get_running_loop()
        self._free: asyncio.LifoQueue[AsyncConnection] = asyncio.LifoQueue()
        self._open = 0

    async def _acquire(self) -> AsyncConnection:
        if not self._free.empty():
            return self._free.get_nowait()
        if self._open < self.size:
            self._open += 1
            READERS.inc()
            try:
                return await self.engine.connect()
            except BaseException:
                self._open -= 1
                READERS.dec()
                raise
        return await self._free.get()

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` on a lent connection; its waits yield to the loop."""
        if asyncio.get_running_loop() is not self.loop:
            raise OtherLoop
        connection = await self._acquire()
        try:
            return await connection.run_sync(fn)
        finally:
            if connection.invalidated or connection.closed:
                self._open -= 1
                READERS.dec()
                await connection.close()
            else:
                self._free.put_nowait(connection)

    async def close(self) -> None:
        """Close every connection (the server is stopping)."""
        while not self._free.empty():
            await self._free.get_nowait().close()
            self._open -= 1
            READERS.dec()
        await self.engine.dispose()


def readers_size() -> int:
    """``REGISTRY_GRAPHQL_READERS``: how many connections planned reads may hold (default
    4; 0 reads on the event loop)."""
    return int(os.environ.get("REGISTRY_GRAPHQL_READERS", str(DEFAULT_READERS)))
