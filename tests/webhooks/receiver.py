"""A real HTTP receiver for webhook tests: it records every POST and answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (0: it did not answer in time)

    @property
    def json(self) -> dict[str, Any]:
        """The body, parsed."""
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """Answers each POST with the next planned answer (a status, or ``"hang"`` to answer
    only after ``hang_seconds``), then with ``default``."""

    port: int = 0
    plan: list[int | str] = field(default_factory=list)
    default: int = 200
    hang_seconds: float = 3.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        """Where to send."""
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted(self, path: str | None = None) -> list[Received]:
        """The POSTs answered 2xx (to ``path``)."""
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300
                    and (path is None or r.path == path)]

    def answer(self) -> int | str:
        with self.lock:
            return self.plan.pop(0) if self.plan else self.default

    def wait_for(self, count: int, seconds: float = 20) -> list[Received]:
        """Wait until ``count`` POSTs were accepted; fail after ``seconds``."""
        deadline = time.monotonic() + seconds
        while len(self.accepted()) < count:
            assert time.monotonic() < deadline, (
                f"{len(self.accepted())} of {count} webhooks arrived; got {self.received}")
            time.sleep(0.02)
        return self.accepted()


@contextmanager
def running_receiver(**options: Any) -> Iterator[Receiver]:
    """A receiver listening on a free loopback port until the block ends."""
    receiver = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            answer = receiver.answer()
            status = 0 if answer == "hang" else int(answer)
            with receiver.lock:
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in
                                                              self.headers.items()},
                                                  body, status))
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
                status = 200  # too late: the sender has given up
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
