"""The ASGI app around the interfaces: health, metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from registry.app import JsonFormatter, create_app
from registry.config import Settings
from tests.conftest import Database, run_async


def _request(app: Starlette, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
            return await c.request(method, path, **kwargs)

    return run_async(send())


@pytest.fixture
def app(database: Database) -> Any:
    built = create_app(Settings(database_url=database.url, anonymous_read=True))
    yield built
    built.state.engine.dispose()


def test_healthz_reports_database_and_latest_release(app: Starlette, database: Database) -> None:
    response = _request(app, "GET", "/healthz")
    assert response.status_code == 200
    # The migrations publish the built-in lists as release 1.
    assert response.json() == {"status": "ok", "database": database.engine.dialect.name,
                               "release": 1}


def test_healthz_fails_when_the_database_is_gone() -> None:
    missing = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none",
                                  anonymous_read=True))
    try:
        response = _request(missing, "GET", "/healthz")
    finally:
        missing.state.engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}


def test_metrics_count_requests_and_operations(app: Starlette) -> None:
    _request(app, "POST", "/graphql", json={"query": "{ release { number } }"})
    _request(app, "POST", "/graphql", json={"query": "{ nonsense }"})
    response = _request(app, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'registry_graphql_operations_total{outcome="ok",type="query"}' in text
    assert 'registry_graphql_operations_total{outcome="refused",type="query"}' in text
    assert "registry_graphql_operation_seconds_bucket" in text
    assert 'registry_http_requests_total{method="POST",route="/graphql",status="200"}' in text
    assert 'registry_http_request_seconds_bucket{le="0.001",route="/graphql"}' in text


def test_request_id_is_echoed_or_made(app: Starlette) -> None:
    echoed = _request(app, "GET", "/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    made = _request(app, "GET", "/healthz")
    assert len(made.headers["x-request-id"]) == 16


def test_one_json_log_line_per_request(app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="registry.http"):
        _request(app, "POST", "/graphql", json={"query": "{ release { number } }"},
                 headers={"X-Request-ID": "r-1"})
    [record] = [r for r in caplog.records if r.name == "registry.http"]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request" and line["level"] == "info"
    assert line["request_id"] == "r-1" and line["path"] == "/graphql"
    assert line["method"] == "POST" and line["status"] == 200
    assert isinstance(line["duration_ms"], float)


def test_json_formatter_keeps_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed %s",
                                                   ("here",), exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here" and "ValueError: boom" in line["exception"]


def test_other_interfaces_stay_mounted(app: Starlette) -> None:
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/graphql", "/healthz", "/metrics"} <= paths
    assert len(paths) > 3  # the sync feed and the web UI mount their own routes
