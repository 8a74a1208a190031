"""The latest release, read once for every request that asks at the same moment.

Each cached answer is checked against the latest release (no worker may serve an answer of
an older release after a publish), which made that one statement most of a cache hit's
cost at 16 clients, and it blocked the event loop while it waited. Here the read waits on
an asyncio reader (registry.graphql.planned.readers), and the requests that ask before the
statement is sent share its answer: each of them asked before the database was read, so
none can be shown a release older than the one committed when it arrived.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection

from registry.graphql.planned.readers import AsyncReaders
from registry.services.graph_reads import latest_release


class SharedLatest:
    """``await get()``: the latest release, one read for the requests waiting together."""

    def __init__(self, readers: AsyncReaders) -> None:
        self.readers = readers
        self._next: asyncio.Future[int] | None = None  # a read not sent yet

    async def get(self) -> int:
        """The latest release as of a moment after this call."""
        future = self._next
        if future is None:
            future = self._next = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._read(future))
        return await asyncio.shield(future)

    async def _read(self, future: asyncio.Future[int]) -> None:
        self._next = None  # who asks from now on waits for the next read
        try:
            future.set_result(await self.readers.run(_latest))
        except BaseException as exc:  # every waiter sees it; they read on their own
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise


def _latest(connection: Connection) -> int:
    return latest_release(connection)
