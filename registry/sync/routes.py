"""The feed's HTTP endpoints under ``/sync/v1`` (docs/sync-protocol.md).

Thin: parse, authorise, call :class:`~registry.sync.server.SyncServer` in the thread pool,
and answer with the right caching headers. Long polls wait on the shared head watcher,
never in a thread, so hundreds of following replicas hold no worker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive

from registry.db import transaction
from registry.errors import (
    NotFound,
    PermissionDenied,
    RegistryError,
    ValidationError,
)
from registry.limits import Limits, load_limits
from registry.replicas import ReadRouter
from registry.services import sync_ledger
from registry.services.actors import Actor
from registry.services.feed import Head
from registry.sync import auth, params
from registry.sync.codec import gzip_bytes
from registry.sync.errors import EpochChanged
from registry.sync.openapi import openapi_document
from registry.sync.protocol import (
    CHANGE_LINE_ENCODINGS,
    DEFAULT_SNAPSHOT_LIMIT,
    HEAD_SEQ_HEADER,
    LINE_ENCODINGS,
    NDJSON,
    PREFIX,
    SUPPORTED_FORMAT,
    Subscription,
    parse_subscription,
)
from registry.sync.server import Body, SyncServer

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
Endpoint = Callable[[Request], Awaitable[Response]]


def _error(exc: RegistryError) -> Response:
    body: dict[str, Any] = {"error": exc.code, "message": exc.message}
    if isinstance(exc, ValidationError | PermissionDenied) and exc.rule:
        body["field"], body["rule"] = exc.field, exc.rule
    if isinstance(exc, EpochChanged):
        body["epoch"] = exc.epoch
    headers = {"Cache-Control": "no-store"}
    if isinstance(exc, auth.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return Response(json.dumps(body, ensure_ascii=False), status_code=exc.http_status,
                    media_type="application/json", headers=headers)


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _send(request: Request, body: Body, media_type: str, cache: str,
          etag: str | None = None, extra: dict[str, str] | None = None) -> Response:
    """The body gzipped when the client takes it; 304 when its validator still holds."""
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding", **(extra or {})}
    if etag is not None:
        headers["ETag"] = etag
        if _etag_matches(request, etag):
            return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(body.gz, media_type=media_type, headers=headers)
    return Response(body.raw, media_type=media_type, headers=headers)


def _etag_matches(request: Request, etag: str) -> bool:
    presented = request.headers.get("if-none-match")
    if not presented:
        return False
    tags = [t.strip().removeprefix("W/") for t in presented.split(",")]
    return "*" in tags or etag in tags


def _json(request: Request, data: Any, cache: str = NO_CACHE, status: int = 200) -> Response:
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    if _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        raw = gzip_bytes(raw)
    return Response(raw, status_code=status, media_type="application/json", headers=headers)


def _number(request: Request, bound: params.Bounded) -> float | None:
    """A query or path parameter checked against its stated bounds; ``None`` when absent."""
    raw = request.path_params.get(bound.name, request.query_params.get(bound.name))
    return None if raw is None else bound.parse(str(raw))


def _int(request: Request, bound: params.Bounded) -> int:
    """A required integer parameter (a path parameter, or one checked present)."""
    value = _number(request, bound)
    if value is None:
        raise ValidationError(bound.name, "required", "is required")
    return int(value)


def _wait(request: Request) -> float:
    return _number(request, params.WAIT) or 0.0


def _epoch(request: Request) -> str:
    return params.parse_epoch(request.path_params["epoch"])


def _subscription(request: Request, limits: Limits) -> Subscription:
    lists = request.query_params.get("lists")
    scope = request.query_params.get("scope")
    if lists is not None:
        params.require_length("lists", lists, params.lists_chars(limits.sync_lists))
    if scope is not None:
        params.require_length("scope", scope, params.SCOPE_CHARS)
    sub = parse_subscription(lists, scope)
    if sub.lists is not None and len(sub.lists) > limits.sync_lists:
        raise ValidationError("lists", "maxItems",
                              f"names at most {limits.sync_lists} lists")
    return sub


def _lines(request: Request, allowed: tuple[str, ...]) -> str:
    """The ``lines`` parameter: one of ``allowed``, JSON when absent."""
    lines = request.query_params.get("lines") or "json"
    if lines not in allowed:
        raise ValidationError("lines", "enum", f"must be one of {', '.join(allowed)}")
    return lines


async def _long_poll(request: Request, server: SyncServer, seq: int, epoch: str,
                     wait: float) -> None:
    """Wait for the head to pass ``seq``, giving up early when the client goes away.

    Nothing runs while it waits: no periodic check per waiter (a node holds thousands),
    only the watcher's wake-up and the server's own notice that the client has gone."""
    waiting = asyncio.ensure_future(server.watcher.wait_beyond(seq, epoch, wait))
    gone = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, gone):
            task.cancel()
        await asyncio.gather(waiting, gone, return_exceptions=True)


async def _disconnected(receive: Receive) -> None:
    """Return when the client has gone (a GET has no body left to read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _head_after_wait(server: SyncServer, known: int) -> Head:
    """The head a long poll woke for: the one the watcher has just read, when it is past
    ``known`` (thousands of woken waiters cost no query each), else read now."""
    head = server.watcher.head
    if head is not None and head.seq > known:
        return head
    return await run_in_threadpool(server.head)


def routes(sessions: object, router: ReadRouter | None = None) -> list[BaseRoute]:
    """Starlette routes of this interface; ``sessions`` is the app's session factory and
    ``router`` where pages may be read (registry.replicas)."""
    assert isinstance(sessions, sessionmaker)
    factory: sessionmaker[Session] = sessions
    server = SyncServer(factory, router=router)
    limits = load_limits()

    def actor_of(request: Request) -> Actor | None:
        secret = auth.bearer(request)
        if secret is None:
            return None
        with factory() as session:
            return auth.authenticate(session, secret)

    async def authorise(request: Request, need: str) -> Actor | None:
        # No token, no lookup: an anonymous reader skips a trip through the thread pool.
        actor = (await run_in_threadpool(actor_of, request)
                 if auth.bearer(request) is not None else None)
        auth.check(actor, need, auth.settings_of(request).anonymous_read)
        return actor

    def guarded(need: str, handler: Callable[[Request], Awaitable[Response]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                await authorise(request, need)
                return await handler(request)
            except RegistryError as exc:
                return _error(exc)
        return endpoint

    async def head(request: Request) -> Response:
        wait = _wait(request)
        current = await run_in_threadpool(server.head)
        known = _number(request, params.SEQ_AFTER)
        if wait and known is not None and current.seq <= known:
            await _long_poll(request, server, int(known), current.epoch, wait)
            current = await _head_after_wait(server, int(known))
        return _json(request, {"epoch": current.epoch, "seq": current.seq,
                               "release": current.release, "hash": current.hash,
                               "format": SUPPORTED_FORMAT, "page_size": server.page_size})

    async def changes(request: Request) -> Response:
        epoch = _epoch(request)
        size, page = _int(request, params.SIZE), _int(request, params.PAGE)
        if size != server.page_size:
            raise NotFound(f"this feed is paged by {server.page_size} records, not {size}")
        wait = _wait(request)
        found_after = _number(request, params.SEQ_AFTER)
        after = None if found_after is None else int(found_after)
        lines = _lines(request, CHANGE_LINE_ENCODINGS)
        built, body, at = await run_in_threadpool(server.change_page, epoch, page, after,
                                                  None, lines)
        # A long poll waits while the page holds nothing new: nothing after ``after``, or
        # nothing beyond the version the client's If-None-Match names.
        idle = (after is not None and built.last_seq <= after) or \
            _etag_matches(request, built.etag)
        if wait and not built.complete and idle:
            await _long_poll(request, server, built.last_seq, epoch, wait)
            woke = server.watcher.head
            fresh = woke if woke is not None and woke.seq > built.last_seq else None
            built, body, at = await run_in_threadpool(server.change_page, epoch, page,
                                                      after, fresh, lines)
        cache = IMMUTABLE if built.complete and after is None else NO_CACHE
        # Where the feed ends, as a hint beside the page (not in its bytes, which a
        # complete page never changes): a follower woken by a release learns from its
        # first page how many more there are, and fetches them ahead.
        return _send(request, body, NDJSON, cache, built.etag,
                     {HEAD_SEQ_HEADER: str(at.seq)})

    async def hashes(request: Request) -> Response:
        epoch = _epoch(request)
        size, page = _int(request, params.SIZE), _int(request, params.PAGE)
        if size != server.page_size:
            raise NotFound(f"this feed is paged by {server.page_size} records, not {size}")
        found = await run_in_threadpool(server.hashes, epoch, page)
        return _json(request, {"epoch": epoch, "page": page, "size": server.page_size,
                               "hashes": found})

    async def snapshot(request: Request) -> Response:
        epoch, release = _epoch(request), _int(request, params.RELEASE)
        sub = _subscription(request, limits)
        found_limit = _number(request, params.LIMIT)
        limit = DEFAULT_SNAPSHOT_LIMIT if found_limit is None else int(found_limit)
        token = params.require_length("after", request.query_params.get("after") or "",
                                      params.MAX_TOKEN_CHARS) or None
        lines = _lines(request, LINE_ENCODINGS)
        body = await run_in_threadpool(server.snapshot, epoch, release, sub, token, limit,
                                       lines)
        return _send(request, body, NDJSON, IMMUTABLE)

    async def delta(request: Request) -> Response:
        epoch, release = _epoch(request), _int(request, params.RELEASE)
        sub = _subscription(request, limits)
        if sub.is_full:
            raise ValidationError("lists", "required", "deltas are for subscriptions to some "
                                  "lists or a scope; replicas of every list follow the "
                                  "change pages")
        found = _number(request, params.THROUGH)
        through = None if found is None else int(found)
        if through is not None and through < release:
            raise ValidationError("through", "minimum", f"must be ≥ the release ({release})")
        body = await run_in_threadpool(server.delta, epoch, release, sub, through)
        return _send(request, body, NDJSON, IMMUTABLE)

    async def checksums(request: Request) -> Response:
        epoch, release = _epoch(request), _int(request, params.RELEASE)
        found = await run_in_threadpool(server.checksums, epoch, release,
                                        _subscription(request, limits))
        return _json(request, found, IMMUTABLE)

    def _report(secret: str, raw: Any) -> dict[str, Any]:
        report = sync_ledger.parse_report(raw, limits.sync_lists)

        def once() -> dict[str, Any]:
            with factory() as session:
                actor = auth.authenticate(session, secret)
            # Its own transaction, whose first statement writes (see report_position).
            with transaction(factory) as session:
                return sync_ledger.report_position(session, actor, report).as_dict()
        try:
            return once()
        except IntegrityError:
            # Two first reports under one new name at once: the second finds the first's
            # row now, and the owner rule decides.
            return once()

    async def ledger_post(request: Request) -> Response:
        try:
            raw = await request.json()
        except (ValueError, RecursionError):
            # RecursionError: nesting deeper than the parser's stack is not a report.
            raise ValidationError("body", "json", "is not valid JSON") from None
        secret = auth.bearer(request)
        assert secret is not None  # checked by the guard
        return _json(request, await run_in_threadpool(_report, secret, raw), "no-store")

    def _consumers(secret: str | None) -> list[dict[str, Any]]:
        with factory() as session:
            actor = auth.authenticate(session, secret) if secret else None
            return [c.as_dict() for c in sync_ledger.consumers_for(session, actor)]

    async def ledger_get(request: Request) -> Response:
        found = await run_in_threadpool(_consumers, auth.bearer(request))
        return _json(request, {"consumers": found}, "no-store")

    async def openapi(request: Request) -> Response:
        return _json(request, openapi_document(limits), "public, max-age=300")

    return [
        Route(f"{PREFIX}/openapi.json", openapi, methods=["GET"]),
        Route(f"{PREFIX}/head", guarded(auth.READ, head), methods=["GET"]),
        Route(f"{PREFIX}/changes/{{epoch}}/{{size}}/{{page}}",
              guarded(auth.READ, changes), methods=["GET"]),
        Route(f"{PREFIX}/hashes/{{epoch}}/{{size}}/{{page}}",
              guarded(auth.READ, hashes), methods=["GET"]),
        Route(f"{PREFIX}/snapshot/{{epoch}}/{{release}}", guarded(auth.READ, snapshot),
              methods=["GET"]),
        Route(f"{PREFIX}/deltas/{{epoch}}/{{release}}", guarded(auth.READ, delta),
              methods=["GET"]),
        Route(f"{PREFIX}/checksums/{{epoch}}/{{release}}", guarded(auth.READ, checksums),
              methods=["GET"]),
        Route(f"{PREFIX}/ledger", guarded(auth.REPORT, ledger_post), methods=["POST"]),
        Route(f"{PREFIX}/ledger", guarded(auth.LEDGER, ledger_get), methods=["GET"]),
    ]
