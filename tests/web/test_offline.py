"""Offline: every page, GraphiQL included, loads only what this server serves.

Chromium is given no other host: each request to another origin is recorded and aborted, as
on a government network without Internet access. A page that needs a CDN would be blank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect

from tests.web.conftest import AU, Live, log_in


@pytest.fixture
def offline_page(live: Live, new_page: Callable[..., Any]) -> Iterator[tuple[Any, list[str]]]:
    """A page whose requests to any origin but the server's are aborted (and listed)."""
    own = urlsplit(live.url)
    left: list[str] = []
    page = new_page()

    def route(request_route: Any) -> None:
        url = urlsplit(request_route.request.url)
        if url.scheme in ("data", "blob") or (url.scheme, url.netloc) == (own.scheme,
                                                                        own.netloc):
            request_route.continue_()
        else:
            left.append(request_route.request.url)
            request_route.abort("internetdisconnected")

    page.context.route("**/*", route)
    # A WebSocket is not routed like a request; none may be opened either.
    page.on("websocket", lambda ws: left.append(ws.url))
    yield page, left


def test_graphiql_renders_and_runs_a_query_offline(
        live: Live, offline_page: tuple[Any, list[str]]) -> None:
    page, left = offline_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live.url}/graphql?q={quote('{ codeLists { key } }')}",
              wait_until="networkidle")
    # The editor was drawn by GraphiQL (React), not just the "Loading…" placeholder.
    expect(page.locator(".graphiql-query-editor")).to_be_visible()
    page.locator(".graphiql-execute-button").click()
    expect(page.locator(".graphiql-response")).to_contain_text(f'"key": "{AU}"')
    assert errors == []
    assert left == []


@pytest.mark.parametrize("path", [
    "/", f"/lists/{AU}", f"/lists/{AU}/01", f"/lists/{AU}?q=ha+noi", "/releases",
    "/consumers", "/convert", "/login", "/no-such-page",
])
def test_public_pages_stay_on_the_origin(live: Live, offline_page: tuple[Any, list[str]],
                                         path: str) -> None:
    page, left = offline_page
    page.goto(f"{live.url}{path}", wait_until="networkidle")
    assert left == []


def test_signed_in_pages_stay_on_the_origin(live: Live,
                                            offline_page: tuple[Any, list[str]]) -> None:
    page, left = offline_page
    log_in(page, live, "steward-hn")
    for path in ("/change-sets", "/change-sets/new", "/convert"):
        page.goto(f"{live.url}{path}", wait_until="networkidle")
    page.get_by_role("link", name="English").first.click()
    page.wait_for_load_state("networkidle")
    assert left == []
