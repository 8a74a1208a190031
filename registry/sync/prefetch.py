"""Fetching ahead: the next pages arrive while the current one is being written.

A snapshot page is written while the next one is fetched (:class:`SnapshotPrefetch`), and
complete change pages up to the head are fetched a couple of pages ahead of the one being
applied (:class:`PagePrefetch`, on a connection of its own). Either hands a failure to the
consumer, which raises it where it would have fetched the page itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from registry.errors import FeedIntegrityError
from registry.sync.codec import decode_header
from registry.sync.protocol import CANONICAL_LINES, PREFIX, Subscription
from registry.sync.results import RemoteHead
from registry.sync.transport import Answer, Transport


class SnapshotPrefetch:
    """Fetches the next snapshot page while the current one is being written."""

    def __init__(self, transport: Transport, path: str, sub: Subscription, limit: int,
                 start: str | None = None, lines: str = "json") -> None:
        self.transport = transport
        self.start = start
        self.path = path
        self.params = {"lists": ",".join(sub.lists) if sub.lists else None,
                       "scope": str(sub.scope) if sub.scope else None,
                       "limit": limit, "lines": None if lines == "json" else lines}
        self.queue: queue.Queue[tuple[dict[str, Any], bytes, str] | BaseException | None] = \
            queue.Queue(maxsize=2)
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _put(self, item: tuple[dict[str, Any], bytes, str] | BaseException | None) -> bool:
        while not self.closed.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        token = self.start
        try:
            while not self.closed.is_set():
                params = {**self.params, "after": token}
                where = self.transport.url(self.path, params)
                answer = self.transport.get(self.path, params)
                header, body = decode_header(answer.body, where)
                if header.get("after") != token:
                    raise FeedIntegrityError(f"{where}: the page continues from "
                                             f"{header.get('after')!r}, not {token!r}")
                if not self._put((header, body, where)):
                    return
                token = header.get("next")
                if not token:
                    break
            self._put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def __iter__(self) -> Iterator[tuple[dict[str, Any], bytes, str]]:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop fetching (a page in flight is dropped)."""
        self.closed.set()
        self.thread.join(timeout=5)


class PagePrefetch:
    """Fetches change pages ``first … last`` in order, on a connection of its own, a couple
    of pages ahead of the one being applied (``last`` may be the head's page, which is
    fetched whole and may still grow)."""

    def __init__(self, source: Transport, head: RemoteHead, first: int, last: int) -> None:
        self.source = source
        self.transport = Transport(source.base_url, source.token, attempts=source.attempts,
                                   stop=source.stop)
        self.path = f"{PREFIX}/changes/{head.epoch}/{head.page_size}"
        self.first, self.last = first, last
        self.queue: queue.Queue[Answer | BaseException] = queue.Queue(maxsize=3)
        self.closed = threading.Event()
        self.next = first
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for page in range(self.first, self.last + 1):
            try:
                item: Answer | BaseException = self.transport.get(f"{self.path}/{page}",
                                                                  dict(CANONICAL_LINES))
            except BaseException as exc:  # handed to the consumer, which raises it
                item = exc
            while not self.closed.is_set():
                try:
                    self.queue.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if self.closed.is_set() or isinstance(item, BaseException):
                return

    def has(self, page: int) -> bool:
        """Whether ``page`` is the next one this prefetcher delivers."""
        return page == self.next and page <= self.last

    def take(self, page: int) -> Answer:
        """The answer for ``page`` (waits for it)."""
        item = self.queue.get()
        self.next += 1
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop fetching and drop the connection."""
        self.closed.set()
        self.transport.abort()
        self.thread.join(timeout=5)
        self.transport.close()
        # What this connection received counts as the client's own.
        self.source.bytes_received += self.transport.bytes_received
        self.transport.bytes_received = 0
