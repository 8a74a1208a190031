"""One read of the latest release serves the requests that asked before it was sent, and
only those: a request that asks once the read is on its way waits for the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from registry.graphql.latest import SharedLatest
from tests.conftest import run_async


class Readers:
    """Stands for the asyncio readers: each run is one read of a head that the test moves."""

    def __init__(self) -> None:
        self.head = 7
        self.reads = 0
        self.gate = asyncio.Event()
        self.fail = False

    async def run(self, fn: Callable[[Any], int]) -> int:
        self.reads += 1
        seen = self.head  # the value is fixed when the statement is sent
        await self.gate.wait()
        if self.fail:
            raise DBAPIError("SELECT", {}, Exception("connection lost"))
        return seen


def test_waiters_share_a_read_sent_after_they_asked() -> None:
    async def go() -> None:
        readers = Readers()
        latest = SharedLatest(readers)  # type: ignore[arg-type]
        first = [asyncio.create_task(latest.get()) for _ in range(10)]
        await asyncio.sleep(0)  # the ten ask; the read starts after them
        await asyncio.sleep(0)
        assert readers.reads == 1
        readers.head = 8  # a publish commits while the read is on its way
        late = asyncio.create_task(latest.get())  # asks after the read was sent
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        readers.gate.set()
        assert await asyncio.gather(*first) == [7] * 10
        assert await late == 8  # never the older release
        assert readers.reads == 2

    run_async(go())


def test_a_failed_read_fails_its_waiters_only() -> None:
    async def go() -> None:
        readers = Readers()
        readers.fail = True
        latest = SharedLatest(readers)  # type: ignore[arg-type]
        waiting = [asyncio.create_task(latest.get()) for _ in range(3)]
        await asyncio.sleep(0)
        readers.gate.set()
        for task in waiting:
            with pytest.raises(DBAPIError):
                await task
        readers.fail = False
        assert await latest.get() == 7  # the next asker reads again

    run_async(go())
