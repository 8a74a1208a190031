"""One poller of the feed head per server process, shared by every long-polling request.

A thousand long-polling replicas cost one tiny query per wake-up, not a thousand. What
wakes the poller: on a PostgreSQL centre, the publisher's notification (see
:mod:`registry.sync.listener`), so a release reaches waiting replicas as soon as it is
committed; elsewhere (SQLite), or while the listening connection is down, a short
interval. The interval stays as a slow safety net while notifications flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from registry.services.feed import Head
from registry.sync.listener import FeedListener

# While notifications flow, the head is also read every this many intervals.
LISTENING_FACTOR = 20


def poll_interval_from_env() -> float:
    """``REGISTRY_SYNC_POLL_SECONDS`` (default 0.1): how often the head is read while
    somebody waits and no notification channel is up."""
    return max(0.01, float(os.environ.get("REGISTRY_SYNC_POLL_SECONDS", "0.1")))


class HeadWatcher:
    """Wakes waiters when the head moves."""

    def __init__(self, read: Callable[[], Head], interval: float | None = None,
                 listener: FeedListener | None = None) -> None:
        self._read = read
        self._interval = poll_interval_from_env() if interval is None else interval
        self._listener = listener
        self._event: asyncio.Event | None = None
        self._nudge: asyncio.Event | None = None
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
            self._nudge = asyncio.Event()
            self._task = loop.create_task(self._run())
            if self._listener is not None:
                self._listener.start(self._wake_from_thread)
        assert self._event is not None
        return self._event

    def _wake_from_thread(self) -> None:
        loop, nudge = self._loop, self._nudge
        if loop is not None and nudge is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(nudge.set)

    def _next_wait(self) -> float:
        listening = self._listener is not None and self._listener.connected.is_set()
        return self._interval * LISTENING_FACTOR if listening else self._interval

    async def _run(self) -> None:
        while True:
            # A fresh nudge before reading: a notification that arrives while the head is
            # read wakes the next round instead of being lost.
            nudge = self._nudge = asyncio.Event()
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(nudge.wait(), self._next_wait())

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
