"""The ``/graphql`` endpoint: strawberry's ASGI view with our context, auth and session."""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Hashable
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cross_web import HTTPException
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http.types import QueryParams

from registry.config import Settings, load_settings
from registry.errors import PermissionDenied
from registry.graphql import http_cache
from registry.graphql.answer_lists import AnswerLists
from registry.graphql.body import BadBody, check_parameter, check_request, decode
from registry.graphql.caching import DOCUMENTS, MAX_BODY, cache_from_env, request_key
from registry.graphql.context import Context
from registry.graphql.metrics import CACHE, PATHS
from registry.graphql.persisted import PersistedError, PersistedQueries, error_response
from registry.graphql.persisted import requested_hash as persisted_hash
from registry.graphql.planned.answer import planned_from_env
from registry.graphql.planned.readers import OtherLoop, readers_size
from registry.graphql.read_sides import STANDBY_FAILURES, ReadSide, min_release, sides_of
from registry.graphql.schema import build_schema
from registry.graphql.schema import schema as registry_schema
from registry.limits import load_limits
from registry.replicas import READS, ReadRouter
from registry.services.actors import Actor
from registry.services.cache import MISSING
from registry.services.checksum_log import changed_lists
from registry.services.tokens import authenticate

_CONTEXT = "registry.graphql.context"
# Strawberry's own GraphiQL page loads React and GraphiQL from a CDN, a blank page offline;
# this one loads the same files from the web UI's /static/vendor (see its README.md).
_GRAPHIQL = (Path(__file__).resolve().parent.parent / "web" / "templates"
             / "graphiql.html").read_text(encoding="utf-8")


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands strawberry the body this view has already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class _Held:
    """An ASGI ``send`` that keeps the answer, to be sent on or dropped."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    async def replay(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


def _with_query(scope: Scope, query: str) -> bytes:
    """A GET's query string with the text of its persisted query added."""
    raw: bytes = scope.get("query_string", b"")
    return (raw + b"&" if raw else b"") + urlencode({"query": query}).encode("ascii")


def _unauthorized(message: str) -> Response:
    return JSONResponse({"data": None, "errors": [
        {"message": message, "extensions": {"code": "unauthenticated"}}]},
        status_code=401, headers={"WWW-Authenticate": 'Bearer realm="registry"'})


class RegistryGraphQL(GraphQL[Context, None]):
    """One session per request, opened on first use and rolled back and closed at the end."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 router: ReadRouter | None = None) -> None:
        # Subscriptions are not offered, and GET may only read (strawberry refuses
        # mutations over GET), so a link cannot make a browser write.
        batch = int(os.environ.get("REGISTRY_GRAPHQL_BATCH", "0"))
        schema = build_schema(batch) if batch > 0 else registry_schema
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.sessions = sessions
        self.settings = settings
        self.limits = load_limits()
        self.cache = cache_from_env()
        bind = sessions.kw.get("bind")
        # One namespace for the primary and its standbys: they hold the same releases.
        self.namespace = str(getattr(bind, "url", "")) or str(id(sessions))
        self.router = router or ReadRouter(sessions, [])
        self.sides = sides_of(self.router)
        self.planner = planned_from_env(schema._schema)
        self.answer_lists = AnswerLists(schema._schema)
        # The lists changed between two releases, as the cache asks for them (immutable).
        self._changed: dict[tuple[int, int], frozenset[str]] = {}

    async def start_readers(self) -> None:
        """Open planned reads to the asyncio readers (PostgreSQL; see :mod:`.planned.readers`)."""
        if self.planner is not None:
            for side in self.sides.values():
                await side.start(readers_size())

    async def stop_readers(self) -> None:
        """Close the asyncio readers."""
        for side in self.sides.values():
            await side.stop()

    def _context(self, side: ReadSide, actor: Actor | None = None) -> Context:
        target = side.target
        return Context(sessions=self.sessions, settings=self.settings, cache=self.cache,
                       namespace=self.namespace, shared=side.shared, actor=actor,
                       read_sessions=target.sessions if target.standby else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await PlainTextResponse("GraphQL is served over HTTP only", 404)(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        side = self.sides[self.router.choose(
            self.router.default_need(min_release(request))).name]
        context = self._context(side)
        try:
            refused = self._authenticate(request, context)
            if refused is not None:
                await refused(scope, receive, send)
                return
            if not side.target.standby:
                await self._respond(request, context, side, scope, send)
                return
            # On a standby the answer is held back until it is known good: a read the
            # standby failed (it went away, or cancelled the read while replaying) has the
            # request answered again by the primary.
            body = await request.body()
            held = _Held()
            failures: list[BaseException] = []
            noted = STANDBY_FAILURES.set(failures)
            try:
                await self._respond(Request(scope, _replay(body)), context, side, scope,
                                    held.send)
            except DBAPIError as exc:  # the planned path lets it through
                failures.append(exc)
            finally:
                STANDBY_FAILURES.reset(noted)
            if failures:
                self.router.probe(side.target)  # left out if it no longer answers
                READS.labels("primary").inc()
                context.close()
                primary = self.sides[self.router.primary.name]
                context = self._context(primary, context.actor)
                await self._respond(Request(scope, _replay(body)), context, primary, scope,
                                    send)
                return
            await held.replay(send)
        finally:
            context.close()

    async def _respond(self, request: Request, context: Context, side: ReadSide,
                       scope: Scope, send: Send) -> None:
        scope[_CONTEXT] = context
        if request.method != "POST":
            await self._get(request, context, side, scope, send)
            return
        await self._post(request, context, side, scope, send)

    async def _post(self, request: Request, context: Context, side: ReadSide, scope: Scope,
                    send: Send) -> None:
        """Serve a POSTed query: from the release-keyed cache, by its plan, or the ordinary
        way; keep a clean answer of a release-keyed query in the cache."""
        body = await request.body()
        data = self._decoded(request, body)
        caching = self.cache.maxsize > 0
        found = request_key(data, context.today) if caching and len(body) <= MAX_BODY else None
        if found is not None and DOCUMENTS.get(found[1]):
            hit = await self._cached(context, side, found[0])
            if hit is not MISSING:
                CACHE.labels("hit").inc()
                await Response(hit, media_type="application/json")(scope, _replay(b""), send)
                return
            CACHE.labels("miss").inc()
        answer = await self._planned(data, context, side, caching)
        PATHS.labels("ordinary" if answer is None else "planned").inc()
        captured: list[bytes] = []
        status = 0
        if answer is not None:
            status, captured = 200, [answer]
            await Response(answer, media_type="application/json")(scope, _replay(b""), send)
        else:
            async def capture(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body" and found is not None:
                    captured.append(message.get("body", b""))
                await send(message)

            await self._serve(scope, _replay(body), capture)
        if (found is not None and context.cache_ok and status == 200
                and context.cache_release is not None):
            self.cache.put(self.namespace, context.cache_release, found[0], b"".join(captured),
                           self.answer_lists(found[1], data.get("variables")))

    async def _cached(self, context: Context, side: ReadSide, key: Hashable) -> Any:
        """The cached answer for ``key`` at the latest release: filed under it, or under an
        older release whose successors up to it changed none of the lists it read."""
        latest = await self._latest(context, side)
        hit = self.cache.get(self.namespace, latest, key)
        if hit is not MISSING:
            return hit
        since = self.cache.stale(self.namespace, latest, key)
        if since is None:
            return MISSING
        changed = self._changed.get((since, latest))
        if changed is None:
            changed = await run_in_threadpool(self._changed_lists, since, latest)
            self._changed[(since, latest)] = changed
            while len(self._changed) > 64:
                self._changed.pop(next(iter(self._changed)))
        return self.cache.carry(self.namespace, latest, key, since, changed)

    def _changed_lists(self, since: int, latest: int) -> frozenset[str]:
        with self.sessions() as session:
            return changed_lists(session, since, latest)

    async def _latest(self, context: Context, side: ReadSide) -> int:
        """The latest release for this request: shared with the requests asking at the same
        moment, without blocking the loop, when the readers run (registry.graphql.latest)."""
        if side.latest is not None and not context.latest_known:
            with contextlib.suppress(OtherLoop, DBAPIError):  # else read on the loop
                context.know_latest(await side.latest.get())
        return context.latest()

    async def _planned(self, data: Any, context: Context, side: ReadSide,
                       caching: bool) -> bytes | None:
        """The answer by the request's plan, or ``None`` for the ordinary path."""
        prepared = (self.planner.prepare(data)
                    if self.planner is not None and data is not None else None)
        if prepared is None or self.planner is None:
            return None
        if caching:
            # Read before executing, as the ordinary path's ResponseCache does: the answer
            # is filed under a release no newer than the data it was computed from.
            context.cache_release = await self._latest(context, side)
        planner = self.planner
        readers = side.readers
        answer: bytes | None = None
        try:
            if readers is None:
                raise OtherLoop
            answer = await readers.run(
                lambda reader: planner.execute(prepared, context, reader))
        except OtherLoop:
            answer = planner.execute(prepared, context, context.reader)
        if answer is not None and caching:
            DOCUMENTS.add(prepared.query)
            context.cache_ok = True
        return answer

    def _decoded(self, request: Request, body: bytes) -> Any:
        """The body's JSON when it is a plain JSON request, else ``None`` (the ordinary
        path then answers it, and refuses it in its own words if it must)."""
        content_type = request.headers.get("content-type", "")
        accept = request.headers.get("accept", "")
        if ("application/json" not in content_type or "multipart/mixed" in accept
                or "text/event-stream" in accept):
            return None
        try:
            data = decode(body, self.limits.json_depth)
            if isinstance(data, dict):  # a persisted query's text, for the cache and planner
                data = self.persisted.resolve(data)
                if isinstance(data.get("query"), str):
                    request.scope[http_cache.DOCUMENT] = (data["query"],
                                                          data.get("operationName"))
            return data
        except (BadBody, PersistedError):
            return None  # the ordinary path answers, and refuses in its own words

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's HTTP handling, with its refusals (a body that is not a request, an
        unsupported content type, no query) in GraphQL's JSON error shape rather than as
        plain text: a client parses every answer the same way."""
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = error_response(exc)
        await response(scope, receive, send)

    @cached_property
    def persisted(self) -> PersistedQueries:
        """This app's persisted queries (registry.graphql.persisted)."""
        return PersistedQueries(self.sessions, registry_schema._schema, self.limits)

    async def _get(self, request: Request, context: Context, side: ReadSide, scope: Scope,
                   send: Send) -> None:
        """A GET: its persisted query looked up or registered, then served with the caching
        headers of registry.graphql.http_cache (304 when the client's ETag still holds)."""
        receive = request.receive
        try:
            params = self.parse_query_params(request.query_params)
            if persisted_hash(params) is not None:
                params = await run_in_threadpool(self.persisted.resolve, params)
        except HTTPException as exc:
            await error_response(exc)(scope, receive, send)
            return
        query = params.get("query") if isinstance(params.get("query"), str) else None
        if query and context.actor is None and not self.settings.anonymous_read:
            # The IDE's page is open to all (see _authenticate); a query over GET is not.
            await _unauthorized("this registry needs an API token for reads too: send "
                                "'Authorization: Bearer …'")(scope, receive, send)
            return
        served = scope
        if query and "query" not in request.query_params:
            served = {**scope, "query_string": _with_query(scope, query)}
        asked = http_cache.Request(
            query=query, operation_name=params.get("operationName") or None,
            variables=params.get("variables") or {},
            authorized="authorization" in request.headers,
            anonymous_read=self.settings.anonymous_read,
            if_none_match=request.headers.get("if-none-match"))
        latest: int | None = None
        if query and http_cache.release_keyed(query, asked.operation_name):
            latest = await self._latest(context, side)  # before the query runs
        await self._serve(served, receive, http_cache.caching_send(
            send, asked, lambda: latest, lambda: served.get(http_cache.ERRORS)))

    async def process_result(self, request: Request, result: Any) -> Any:
        """Strawberry's result, noting whether it had errors (for the caching headers)."""
        request.scope[http_cache.ERRORS] = bool(result.errors)
        return await super().process_result(request, result)

    def _authenticate(self, request: Request, context: Context) -> Response | None:
        header = request.headers.get("authorization")
        if header is None:
            wants_ide = request.method == "GET" and "text/html" in request.headers.get(
                "accept", "")
            if not self.settings.anonymous_read and not wants_ide:
                return _unauthorized("this registry needs an API token for reads too: send "
                                     "'Authorization: Bearer …'")
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return _unauthorized("use 'Authorization: Bearer <token>'")
        try:
            context.actor = authenticate(context.session, secret)
        except PermissionDenied as exc:
            return _unauthorized(exc.message)
        return None

    def parse_json(self, data: str | bytes) -> Any:
        """A body (or the ``variables`` parameter of a GET) that is a JSON object, or 400.

        The body's size is bounded before this, while it streams in (registry.body_limit).
        """
        try:
            value = decode(data, self.limits.json_depth)
            check_request(value)
        except BadBody as exc:
            raise HTTPException(400, str(exc)) from None
        if isinstance(value, list):
            return [self.persisted.resolve(item) for item in value]
        return self.persisted.resolve(value)

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        """A GET's parameters; a bad ``variables`` or ``extensions`` is a 400 naming it."""
        found = dict(params)
        for name in ("variables", "extensions"):
            raw = found.get(name)
            if raw:
                try:
                    found[name] = decode(raw, self.limits.json_depth, name)
                    check_parameter(found[name], name)
                except BadBody as exc:
                    raise HTTPException(400, str(exc)) from None
        return found

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL, with every script and style served by this app (under its root path)."""
        base = html.escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)
        return HTMLResponse(_GRAPHIQL.replace("{{ base }}", base))

    async def get_context(self, request: Any, response: Any) -> Context:
        """The context :meth:`__call__` built and authenticated for this request."""
        context: Context = request.scope[_CONTEXT]
        return context


def routes(sessions: sessionmaker[Session], settings: Settings | None = None,
           router: ReadRouter | None = None) -> list[BaseRoute]:
    """Starlette routes of this interface; ``sessions`` is the app's session factory and
    ``router`` where published data may be read (registry.replicas)."""
    view = RegistryGraphQL(sessions, settings or load_settings(), router)
    return [Route("/graphql", http_cache.ReleaseHeader(view), methods=["GET", "POST"])]


def view_of(routes: list[BaseRoute]) -> RegistryGraphQL | None:
    """The GraphQL view among an app's routes (its lifespan starts the view's readers)."""
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        endpoint = getattr(endpoint, "view", endpoint)  # inside http_cache.ReleaseHeader
        if isinstance(endpoint, RegistryGraphQL):
            return endpoint
    return None
