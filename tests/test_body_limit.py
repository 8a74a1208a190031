"""Request bodies are bounded while they stream in: chunked, lying or declared, per path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from registry.app import create_app
from registry.body_limit import BodyLimit, BodyRule, api_rules, json_refusal
from registry.config import Settings
from registry.limits import MIB, Limits
from registry.sync.app import create_sync_app
from tests.conftest import Database, run_async

CHUNK = 64 * 1024


class Chunks:
    """A request body of ``total`` bytes sent in chunks, without a Content-Length; it
    remembers how much the server pulled from it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += CHUNK
            yield b"x" * CHUNK


def _post(app: Any, path: str, content: Any, headers: dict[str, str] | None = None
          ) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
            return await c.post(path, content=content, headers=headers)

    return run_async(send())


def _get(app: Any, path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
            return await c.get(path)

    return run_async(send())


class Reader:
    """An application that reads the whole body, then answers 200 with its length."""

    def __init__(self) -> None:
        self.seen = 0
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        more = True
        while more:
            message: Message = await receive()
            self.seen += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.seen).encode()})


def _limited(app: Any, limit: int) -> BodyLimit:
    return BodyLimit(app, [BodyRule("/", limit, "REGISTRY_MAX_TEST",
                                    json_refusal(limit, "REGISTRY_MAX_TEST"))])


def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    inner = Reader()
    body = Chunks(50 * MIB)
    answer = _post(_limited(inner, MIB), "/upload", body)
    assert answer.status_code == 413
    assert answer.json()["errors"][0]["extensions"] == {
        "code": "too_large", "field": "body", "rule": "max_bytes", "limit": MIB}
    # Neither the application nor the server read more than the limit and one chunk.
    assert inner.seen <= MIB
    assert body.sent <= MIB + CHUNK


def test_a_body_within_the_limit_passes_whole() -> None:
    inner = Reader()
    answer = _post(_limited(inner, MIB), "/upload", Chunks(MIB - CHUNK))
    assert (answer.status_code, answer.text) == (200, str(MIB - CHUNK))


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    inner = Reader()
    answer = _post(_limited(inner, 1000), "/upload", b"x" * 1001)
    assert answer.status_code == 413 and not inner.called


class Swallower:
    """An application that catches every error while reading and answers 500 itself."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while (await receive()).get("more_body", False):
                pass
            status = 200
        except Exception:
            status = 500
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_an_application_cannot_turn_the_refusal_into_another_answer() -> None:
    assert _post(_limited(Swallower(), MIB), "/", Chunks(2 * MIB)).status_code == 413


def test_the_first_matching_prefix_sets_the_limit() -> None:
    inner = Reader()
    limits = Limits(graphql_body_bytes=1000, upload_bytes=10_000)
    app = BodyLimit(inner, [*api_rules(limits), *_limited(inner, 10_000).rules])
    assert _post(app, "/graphql", b"x" * 1500).status_code == 413
    assert _post(app, "/sync/v1/consumers/x", b"x" * 1500).status_code == 413
    assert _post(app, "/change-sets/1/upload", b"x" * 1500).status_code == 200


@pytest.fixture
def app(database: Database) -> Iterator[Starlette]:
    built = create_app(Settings(database_url=database.url, anonymous_read=True))
    yield built
    built.state.engine.dispose()


def test_graphql_refuses_a_chunked_body_over_its_limit(app: Starlette) -> None:
    body = Chunks(50 * MIB)
    answer = _post(app, "/graphql", body, {"content-type": "application/json"})
    assert answer.status_code == 413
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "too_large"
    assert "REGISTRY_MAX_GRAPHQL_BODY_BYTES" in error["message"]
    assert body.sent <= Limits().graphql_body_bytes + CHUNK
    # A query of ordinary size still runs.
    ok = _post(app, "/graphql", b'{"query": "{ release { number } }"}',
               {"content-type": "application/json"})
    assert ok.status_code == 200 and ok.json()["data"]["release"]["number"] == 1


def test_the_limits_come_from_the_environment(database: Database,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MAX_GRAPHQL_BODY_BYTES", "100")
    built = create_app(Settings(database_url=database.url, anonymous_read=True))
    try:
        answer = _post(built, "/graphql", b'{"query": "{ release { number } }", "x": "'
                       + b"y" * 100 + b'"}', {"content-type": "application/json"})
    finally:
        built.state.engine.dispose()
    assert answer.status_code == 413
    assert answer.json()["errors"][0]["extensions"]["limit"] == 100


@pytest.mark.parametrize("factory", [create_app, create_sync_app])
def test_the_sync_feed_refuses_a_large_body_in_its_own_error_form(
        database: Database, factory: Any) -> None:
    built = factory(Settings(database_url=database.url, anonymous_read=True))
    try:
        # Declared: without a token the route answers 401 before it would read a byte.
        answer = _post(built, "/sync/v1/ledger", b"x" * (Limits().graphql_body_bytes + 1),
                       {"content-type": "application/json"})
        document = _get(built, "/sync/v1/openapi.json").json()
    finally:
        built.state.engine.dispose()
    assert answer.status_code == 413
    body = answer.json()
    assert (body["error"], body["field"], body["rule"]) == ("too_large", "body", "max_bytes")
    assert "REGISTRY_MAX_GRAPHQL_BODY_BYTES" in body["message"] and "data" not in body
    # The document says so, in the shape of its other errors.
    responses = document["paths"]["/sync/v1/ledger"]["post"]["responses"]
    assert responses["413"]["content"] == responses["400"]["content"]
