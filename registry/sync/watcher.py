"""One poller of the feed head per server process, shared by every long-polling request.

The publisher does not notify anyone, and the database may be SQLite, so the server reads
the head row on a short interval, but only while somebody waits: a thousand long-polling
replicas cost one tiny query every ``interval`` seconds, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from registry.services.feed import Head


class HeadWatcher:
    """Wakes waiters when the head moves."""

    def __init__(self, read: Callable[[], Head], interval: float = 0.1) -> None:
        self._read = read
        self._interval = interval
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters = 0
        self._idle_since = time.monotonic()
        self.head: Head | None = None

    def _ensure_running(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._event = asyncio.Event()
            self._task = loop.create_task(self._run())
        assert self._event is not None
        return self._event

    async def _run(self) -> None:
        while True:
            head: Head | None
            try:
                head = await run_in_threadpool(self._read)
            except Exception:  # a failing database must not kill the watcher; waiters time out
                head = self.head
            if head != self.head:
                self.head = head
                if self._event is not None:
                    self._event.set()
                self._event = asyncio.Event()
            if self._waiters == 0 and time.monotonic() - self._idle_since > 30:
                self._task = None
                return
            await asyncio.sleep(self._interval)

    async def wait_beyond(self, seq: int, epoch: str, timeout: float) -> None:
        """Return when the head is past ``seq`` (or its epoch changed), or after ``timeout``."""
        deadline = time.monotonic() + timeout
        self._waiters += 1
        try:
            while True:
                event = self._ensure_running()
                head = self.head
                if head is not None and (head.seq > seq or head.epoch != epoch):
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            self._waiters -= 1
            self._idle_since = time.monotonic()
