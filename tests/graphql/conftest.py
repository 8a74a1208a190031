"""An app on a fresh database per test, a GraphQL client over HTTP, and API tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session
from starlette.applications import Starlette

from registry.app import create_app
from registry.config import Settings
from registry.db import session_factory, transaction
from registry.services import raw_reads, tokens
from registry.services.actors import SYSTEM
from tests.conftest import Database, run_async


class Api:
    """Posts GraphQL documents to ``/graphql`` of the real ASGI app, over httpx."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request to the app (a fresh event loop each time, as a client would)."""

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://registry") as c:
                return await c.request(method, path, **kwargs)

        return run_async(send())

    def post(self, query: str, variables: dict[str, Any] | None = None,
             token: str | None = None, **extra: Any) -> httpx.Response:
        """POST a document; ``token`` authenticates."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.request("POST", "/graphql", headers=headers,
                            json={"query": query, "variables": variables or {}, **extra})

    def __call__(self, query: str, variables: dict[str, Any] | None = None,
                 token: str | None = None) -> dict[str, Any]:
        """The ``data`` of a successful request; fails the test on any GraphQL error."""
        response = self.post(query, variables, token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def errors(self, query: str, variables: dict[str, Any] | None = None,
               token: str | None = None) -> list[dict[str, Any]]:
        """The GraphQL errors of a request that must fail."""
        response = self.post(query, variables, token)
        body = response.json()
        assert body.get("errors"), body
        return body["errors"]  # type: ignore[no-any-return]


@pytest.fixture
def write(database: Database) -> Callable[[Callable[[Session], Any]], Any]:
    """Run ``fn(session)`` in one committed transaction on the test's database."""
    sessions = session_factory(database.engine)

    def run(fn: Callable[[Session], Any]) -> Any:
        with transaction(sessions) as session:
            return fn(session)

    return run


@pytest.fixture
def make_api(database: Database) -> Iterator[Callable[..., Api]]:
    """``make_api(anonymous_read=…)``: the real app on the test's database."""
    apps: list[Starlette] = []

    def build(anonymous_read: bool = True) -> Api:
        app = create_app(Settings(database_url=database.url, anonymous_read=anonymous_read))
        apps.append(app)
        return Api(app)

    yield build
    for app in apps:
        app.state.engine.dispose()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture
def token(write: Callable[[Callable[[Session], Any]], Any]) -> Callable[..., str]:
    """``token(name, role, lists=None)`` issues an API token and returns its secret."""

    def issue(name: str, role: str, lists: list[str] | None = None) -> str:
        created = write(lambda s: tokens.create_token(s, SYSTEM, name, role, lists))
        return created.secret  # type: ignore[no-any-return]

    return issue


class Statements:
    """Counts the SQL statements an engine executes (``before_cursor_execute``), and those
    the hot reads run on the driver directly (registry.services.raw_reads)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.count = 0
        self.sql: list[str] = []

    def _on_execute(self, *args: Any) -> None:
        self.count += 1
        self.sql.append(str(args[2]))

    def _on_direct(self, sql: str) -> None:
        self.count += 1
        self.sql.append(sql)

    def __enter__(self) -> Statements:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        self._stop_direct = raw_reads.listen(self._on_direct)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        self._stop_direct()


@pytest.fixture
def statements(api: Api) -> Callable[[], Statements]:
    """``with statements() as s: …`` counts what the app's engine runs meanwhile."""
    return lambda: Statements(api.app.state.engine)
