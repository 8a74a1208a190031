"""HTTP for the replica: one kept-alive connection, gzip, a token, and patient retries.

Transient failures (connection refused or reset, timeouts, 5xx, 408, 429) are retried with
exponential backoff and full jitter, so a crowd of replicas does not hammer a centre that
is coming back. Other answers are final: 4xx are the caller's problem, 410 means the epoch
changed. Only the standard library is used, so the client installs anywhere.
"""

from __future__ import annotations

import contextlib
import gzip
import http
import http.client
import json
import logging
import random
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from registry import __version__
from registry.sync.errors import EpochChanged, FeedIntegrityError, SyncError, TransportError
from registry.sync.protocol import PREFIX

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
NETWORK_ERRORS = (OSError, http.client.HTTPException, socket.timeout)
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
log = logging.getLogger("registry.sync")


def registry_base(url: str) -> str:
    """The base URL of the registry that ``url`` names.

    A path is where the registry is mounted (``https://example.gov.vn/registry`` behind a
    reverse proxy): the feed is under ``<base>/sync/v1``. The URL of its GraphQL endpoint
    (``…/graphql``) or of a sync endpoint (``…/sync/v1/head``) names the same registry and is
    cut back to the base. Query strings and fragments are dropped.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncError(f"'{url}' is not an http(s) URL of a registry: give its base URL, "
                        "e.g. https://registry.example.gov.vn")
    path = parts.path.rstrip("/")
    feed = path.find(PREFIX)
    if feed >= 0 and path[feed + len(PREFIX):][:1] in ("", "/"):
        path = path[:feed]
    elif path.endswith("/graphql"):
        path = path.removesuffix("/graphql")
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", ""))


def describe_network_error(exc: BaseException, timeout: float) -> str:
    """A failure to reach the centre, in words (no exception class names)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the connection closed without an answer"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Answer:
    """A decoded HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


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
        self.base_url = registry_base(base_url)
        parts = urlsplit(self.base_url)
        # Messages name the URL that was asked for: the origin and the request target,
        # which already holds the base URL's path (naming it twice misled people).
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path.rstrip("/")
        self.token = token
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.stop = stop or threading.Event()
        self.failing_since: float | None = None  # when the current run of failures began
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
                    raise TransportError(f"{method} {self._origin}{target}: stopped") from None
                if reused and isinstance(exc, STALE_CONNECTION):
                    # The centre closed an idle kept-alive connection: ask again at once.
                    log.debug("reconnecting after %r", exc)
                    continue
                problem = describe_network_error(exc, timeout or self.timeout)
                unreachable = True
            else:
                if answer.status < 400 or answer.status == 304:
                    if self.failing_since is not None:
                        log.info("the centre at %s answers again", self.base_url)
                        self.failing_since = None
                    return answer
                if answer.status not in RETRY_STATUSES:
                    raise self._final(method, target, answer)
                problem = f"HTTP {answer.status} ({_reason(answer.status)})"
                unreachable = False
            attempt += 1
            if self.failing_since is None:
                self.failing_since = time.monotonic()
            what = (f"cannot reach the centre at {self.base_url}: {problem}" if unreachable
                    else f"the centre at {self.base_url} answers {problem} to {method} "
                         f"{self._origin}{target}")
            if self.attempts is not None and attempt >= self.attempts:
                tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
                raise TransportError(f"{what} (gave up after {tries})",
                                     None if unreachable else answer.status)
            delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))
            # Say what is going on: the first retry of a run of failures is a warning, the
            # others are progress (hidden by --quiet).
            of = f" of {self.attempts}" if self.attempts is not None else ""
            if attempt == 1:
                log.warning("%s; trying again in %.1f s (attempt 2%s)", what, delay, of)
            else:
                log.info("%s: trying again in %.1f s (attempt %d%s)", problem, delay,
                         attempt + 1, of)
            if self.stop.wait(delay):
                raise TransportError(f"{method} {self._origin}{target}: stopped")

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
        return HttpError(f"{method} {self._origin}{target}: HTTP {answer.status}: {message}",
                         answer.status, detail)

    def get(self, path: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None, timeout: float | None = None) -> Answer:
        """GET with retries."""
        return self.request("GET", path, params, headers=headers, timeout=timeout)

    def post(self, path: str, body: Any) -> Answer:
        """POST JSON with retries."""
        return self.request("POST", path, body=body)
