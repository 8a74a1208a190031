"""A real HTTP intermediary between a replica and the centre, for fault tests: it can fail,
drop connections, tamper with bytes, or behave like a broken cache.

It forwards every request to the centre over a real socket and hands the answer to
``rewrite``, which may change it; ``before`` may answer without asking the centre.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    """An answer as the proxy sends it."""

    status: int
    headers: dict[str, str]
    body: bytes


class Drop(Exception):
    """Raised by a hook: close the connection without answering."""


Before = Callable[[str], Reply | None]
Rewrite = Callable[[str, Reply], Reply]


class Proxy:
    """Forwarding proxy on a loopback port."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port_up = parts.hostname or "127.0.0.1", parts.port or 80
        self.before: Before | None = None
        self.rewrite: Rewrite | None = None
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _handle(self) -> None:
                proxy.requests.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                try:
                    reply = proxy.before(self.path) if proxy.before else None
                    if reply is None:
                        reply = proxy.forward(self.command, self.path, body,
                                              dict(self.headers.items()))
                        if proxy.rewrite:
                            reply = proxy.rewrite(self.path, reply)
                except Drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = _handle
            do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def forward(self, method: str, path: str, body: bytes | None,
                headers: dict[str, str]) -> Reply:
        """Ask the centre, uncompressed, so hooks see plain bytes."""
        sent = {k: v for k, v in headers.items()
                if k.lower() not in ("host", "accept-encoding", "connection",
                                     "content-length")}
        conn = http.client.HTTPConnection(self.host, self.port_up, timeout=120)
        try:
            conn.request(method, path, body=body, headers=sent)
            answer = conn.getresponse()
            data = answer.read()
            kept = {k: v for k, v in answer.getheaders()
                    if k.lower() not in ("content-length", "content-encoding", "connection",
                                         "transfer-encoding", "date", "server")}
            return Reply(answer.status, kept, data)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def repage(reply: Reply, lines: Callable[[list[bytes]], list[bytes]] | None = None,
           header: Callable[[dict[str, Any]], None] | None = None) -> Reply:
    """The page in ``reply`` with its lines (and header) changed and its digest made to
    match, as a broken centre or cache could send it: the digest vouches for the bytes,
    the checks behind it must refuse them."""
    head, _, body = reply.body.partition(b"\n")
    found = json.loads(head)
    kept = body.split(b"\n")[:-1]
    new = b"".join(line + b"\n" for line in (lines(kept) if lines else kept))
    if header:
        header(found)
    found["digest"] = hashlib.sha256(new).hexdigest()
    return Reply(reply.status, reply.headers, json.dumps(found).encode() + b"\n" + new)
