"""ASGI app factory: GraphQL, the sync feed and the web UI on one Starlette app.

Around them: ``/healthz`` (database and latest release), ``/metrics`` (Prometheus) and one
structured (JSON) log line per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.body_limit import BodyLimit, api_rules
from registry.config import Settings, load_settings
from registry.db import make_engine, session_factory
from registry.graphql.routes import routes as graphql_routes
from registry.graphql.routes import view_of
from registry.limits import load_limits
from registry.replicas import ReadRouter, router_from_env
from registry.services.queries import latest_release
from registry.sync.routes import routes as sync_routes
from registry.web.routes import body_rules as web_body_rules
from registry.web.routes import routes as web_routes
from registry.webhooks.worker import WebhookWorker
from registry.webhooks.worker import enabled as webhooks_enabled

log = logging.getLogger("registry.http")

REQUESTS = Counter("registry_http_requests_total", "HTTP requests by route, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("registry_http_request_seconds", "HTTP request time by route.", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                             10))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log collectors parse without a grammar."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON object; ``extra={"fields": {...}}`` adds keys."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(level: str | None = None) -> None:
    """Send every log record (ours, uvicorn's, strawberry's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("REGISTRY_LOG_LEVEL", "INFO").upper())
    for name in ("uvicorn", "uvicorn.error", "strawberry"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # RequestLog writes one structured line per request; uvicorn's own would repeat it.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False


def _route_of(path: str) -> str:
    # A bounded label set: per-path labels would let clients create unlimited series.
    for prefix in ("/graphql", "/healthz", "/metrics", "/sync", "/feed"):
        if path.startswith(prefix):
            return prefix
    return "other"


class RequestLog:
    """Pure ASGI middleware: a request id, one JSON log line and metrics per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = next((v.decode("latin-1") for k, v in scope["headers"]
                           if k == b"x-request-id"), None) or uuid.uuid4().hex[:16]
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope["path"])
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info("request", extra={"fields": {
                    "request_id": request_id, "method": scope["method"], "path": scope["path"],
                    "status": status, "duration_ms": round(elapsed * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0]}})


def _health(engine: Engine, router: ReadRouter) -> Route:
    sessions = session_factory(engine)

    def healthz(request: Request) -> Response:
        """200 with the database kind and latest release, or 503."""
        try:
            with sessions() as session:
                session.execute(text("SELECT 1"))
                release = latest_release(session)
        except SQLAlchemyError as exc:
            log.error("health check failed", exc_info=exc)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        found: dict[str, Any] = {"status": "ok", "database": engine.dialect.name,
                                 "release": release}
        if router.enabled:
            found["read_databases"] = router.describe()
        return JSONResponse(found)

    return Route("/healthz", healthz, methods=["GET"])


def _metrics(request: Request) -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several workers: each writes its own files, the scrape sums them.
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def start_webhook_worker(sessions: sessionmaker[Session]) -> WebhookWorker | None:
    """The server process's webhook worker, unless ``REGISTRY_WEBHOOKS=0``."""
    if not webhooks_enabled():
        return None
    worker = WebhookWorker(sessions)
    worker.start()
    return worker


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app on the configured database."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    router = router_from_env(sessions)
    own = [_health(engine, router), Route("/metrics", _metrics, methods=["GET"])]
    graphql = graphql_routes(sessions, settings, router)
    view = view_of(graphql)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(router.start)  # reads every standby's head once first
        # In the server's event loop: planned GraphQL reads get connections of their own.
        if view is not None:
            await view.start_readers()
        worker = start_webhook_worker(sessions)
        try:
            yield
        finally:
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            if view is not None:
                await view.stop_readers()
            await asyncio.to_thread(router.stop)

    app = Starlette(routes=[*own, *graphql, *sync_routes(sessions, router),
                            *web_routes(sessions)], lifespan=lifespan)
    # Bodies are counted as they stream in, before any handler parses them; the first
    # matching prefix wins, so the API's JSON rules come before the UI's catch-all.
    limits = load_limits()
    app.add_middleware(BodyLimit, rules=[*api_rules(limits),
                                         *web_body_rules(sessions, limits)])
    app.add_middleware(RequestLog)
    app.state.engine = engine
    app.state.router = router
    app.state.sessions = sessions
    app.state.settings = settings
    app.state.limits = limits
    return app


def create_served_app() -> Starlette:
    """The app as ``registry serve`` runs it in each worker: JSON logs, then the app."""
    configure_logging()
    return create_app()
