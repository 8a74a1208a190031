"""HTTP for the replica: one kept-alive connection, gzip, a token, and patient retries.

Transient failures (connection refused or reset, timeouts, 5xx, 408, 429) are retried with
exponential backoff and full jitter, so a crowd of replicas does not hammer a centre that
is coming back. Other answers are final: 4xx are the caller's problem, 410 means the epoch
changed. Only the standard library is used, so the client installs anywhere.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import logging
import random
import socket
import threading
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from registry import __version__
from registry.sync.errors import EpochChanged, FeedIntegrityError, SyncError, TransportError

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
NETWORK_ERRORS = (OSError, http.client.HTTPException, socket.timeout)
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
log = logging.getLogger("registry.sync")


@dataclass(frozen=True)
class Answer:
    """A decoded HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class HttpError(SyncError):
    """A final (non-retried) error answer from the centre."""

    code = "http"

    def __init__(self, message: str, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {}


class Transport:
    """Requests to one centre."""

    def __init__(self, base_url: str, token: str | None = None, *, attempts: int | None = 8,
                 base_delay: float = 0.25, max_delay: float = 10.0, timeout: float = 30.0,
                 stop: threading.Event | None = None) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SyncError(f"'{base_url}' is not an http(s) URL of a registry")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/")
        self.token = token
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.stop = stop or threading.Event()
        self.bytes_received = 0
        self._conn: http.client.HTTPConnection | None = None
        self._aborted = False

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def abort(self) -> None:
        """Interrupt a request in flight (from another thread), e.g. a long poll."""
        conn = self._conn
        if conn is not None and conn.sock is not None:
            self._aborted = True
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (http.client.HTTPSConnection if self._scheme == "https"
                   else http.client.HTTPConnection)
            self._conn = cls(self._host, self._port, timeout=timeout)
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        """The full URL of ``path`` (for messages)."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return self.base_url + path + (f"?{query}" if query else "")

    def _once(self, method: str, target: str, body: bytes | None, headers: dict[str, str],
              timeout: float) -> Answer:
        conn = self._connection(timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except BaseException:
            self.close()
            raise
        self.bytes_received += len(raw)
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
        if answer_headers.get("connection", "").lower() == "close":
            self.close()
        if answer_headers.get("content-encoding", "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                raise FeedIntegrityError(f"{method} {target}: the compressed answer is "
                                         "corrupt; nothing was applied") from None
        return Answer(response.status, answer_headers, raw)

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                body: Any = None, headers: dict[str, str] | None = None,
                timeout: float | None = None) -> Answer:
        """Send with retries; return 2xx/304 answers, raise on anything else."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        target = self._path + path + (f"?{query}" if query else "")
        sent = {"Accept-Encoding": "gzip", "User-Agent": f"registry-sync/{__version__}",
                **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            sent["Content-Type"] = "application/json"
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        attempt = 0
        while True:
            problem: str
            reused = self._conn is not None and self._conn.sock is not None
            self._aborted = False  # an abort counts for the request in flight only
            try:
                answer = self._once(method, target, data, sent, timeout or self.timeout)
            except NETWORK_ERRORS as exc:
                if self._aborted:
                    self._aborted = False
                    raise TransportError(f"{method} {self.base_url}{target}: stopped") from None
                if reused and isinstance(exc, STALE_CONNECTION):
                    # The centre closed an idle kept-alive connection: ask again at once.
                    log.debug("reconnecting after %r", exc)
                    continue
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if answer.status < 400 or answer.status == 304:
                    return answer
                if answer.status not in RETRY_STATUSES:
                    raise self._final(method, target, answer)
                problem = f"HTTP {answer.status}"
            attempt += 1
            if self.attempts is not None and attempt >= self.attempts:
                raise TransportError(f"{method} {self.base_url}{target}: {problem} "
                                     f"(gave up after {attempt} attempts)")
            delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))
            if self.stop.wait(delay):
                raise TransportError(f"{method} {self.base_url}{target}: stopped")

    def _final(self, method: str, target: str, answer: Answer) -> SyncError:
        try:
            detail = json.loads(answer.body)
            if not isinstance(detail, dict):
                detail = {}
        except ValueError:
            detail = {}
        message = str(detail.get("message") or answer.body[:200].decode("utf-8", "replace"))
        if answer.status == 410:
            return EpochChanged(message, detail.get("epoch"))
        return HttpError(f"{method} {self.base_url}{target}: HTTP {answer.status}: {message}",
                         answer.status, detail)

    def get(self, path: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None, timeout: float | None = None) -> Answer:
        """GET with retries."""
        return self.request("GET", path, params, headers=headers, timeout=timeout)

    def post(self, path: str, body: Any) -> Answer:
        """POST JSON with retries."""
        return self.request("POST", path, body=body)
