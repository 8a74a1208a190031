"""Web UI fixtures: a real uvicorn server on a fresh database, tokens, and Debian's chromium.

One server per backend serves the browser tests (starting chromium and a server per test
would make them slow); each test works on entries of its own, so they do not interfere.
Tests that need a differently configured server start their own with :func:`serve`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette

from registry.app import create_app
from registry.config import Settings
from registry.db import make_engine, session_factory, transaction
from registry.services import change_sets, tokens
from registry.services.actors import SYSTEM
from registry.services.change_sets import LegalBasis
from tests.conftest import Database, Templates

CHROMIUM = "/usr/bin/chromium"
# Chromium 14x renders its omnibox popup as a WebUI page in a renderer of its own, kept in
# step with every navigation even headless: a third of the browser's CPU per page load.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The figures of docs/web.md are rewritten only on request, so a test run leaves the tree
# as it found it: REGISTRY_SCREENSHOTS=1 pytest tests/web/test_browser.py
WRITE_SCREENSHOTS = os.environ.get("REGISTRY_SCREENSHOTS") == "1"
AU = "admin-units"
# Hà Nội's Ba Đình and Hoàn Kiếm districts and three other cities, from the bundled data.
SEED_CODES = {"01", "31", "48", "79", "001", "002"}
SEED_PARENTS = {"001", "002"}


@dataclass
class Live:
    """A running server: its base URL, its database and the secrets of its tokens."""

    url: str
    engine: Engine
    secrets: dict[str, str] = field(default_factory=dict)

    def write(self, fn: Callable[[Session], Any]) -> Any:
        """Run ``fn`` in one committed transaction (test set-up goes through the services)."""
        with transaction(session_factory(self.engine)) as session:
            return fn(session)

    def read(self, fn: Callable[[Session], Any]) -> Any:
        """Run ``fn`` in a session that is rolled back."""
        with session_factory(self.engine)() as session:
            return fn(session)

    def token(self, name: str, role: str, lists: list[str] | None = None,
              scope: str | None = None) -> str:
        """Issue a token and remember its secret under ``name``."""
        created = self.write(lambda s: tokens.create_token(s, SYSTEM, name, role, lists,
                                                           scope))
        self.secrets[name] = created.secret
        return created.secret


def _free_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextmanager
def serve(database_url: str, *, anonymous_read: bool = True,
          factory: Callable[[Settings], Starlette] = create_app,
          port: int = 0) -> Iterator[str]:
    """A real uvicorn server for the app (by default the whole registry's) on
    ``database_url``, in a thread (on ``port``, else a free one); yields its URL."""
    app = factory(Settings(database_url=database_url, anonymous_read=anonymous_read))
    sock = _free_socket(port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.engine.dispose()


def seed_operations() -> list[dict[str, Any]]:
    """Real units around Hà Nội from the bundled baseline (before the 2025 reform)."""
    base = resources.files("registry") / "data" / "changesets"
    name = next(n.name for n in base.iterdir() if "admin-units-baseline" in n.name)
    ops = json.loads((base / name).read_text("utf-8"))["operations"]
    return [op for op in ops if op.get("code") in SEED_CODES
            or op.get("parent") in SEED_PARENTS]


def seed(session: Session) -> int:
    """Publish the seed units, effective 2025-01-01, as the operator would."""
    basis = LegalBasis("124/2004/QĐ-TTg", date(2004, 7, 8), "Thủ tướng Chính phủ")
    draft = change_sets.create_change_set(session, SYSTEM, "Đơn vị hành chính mẫu (Hà Nội)",
                                          basis, date(2025, 1, 1))
    change_sets.add_operations(session, SYSTEM, draft.id, seed_operations())
    return change_sets.publish_direct(session, SYSTEM, draft.id)


@pytest.fixture(autouse=True, scope="session")
def _web_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Keep the session key and uploads out of the user's home and the shared /tmp.
    saved = {k: os.environ.get(k) for k in ("REGISTRY_SECRET_KEY", "REGISTRY_UPLOAD_DIR")}
    os.environ["REGISTRY_SECRET_KEY"] = "test-only-session-key"
    os.environ["REGISTRY_UPLOAD_DIR"] = str(tmp_path_factory.mktemp("uploads"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def live(templates: Templates, backend: str) -> Iterator[Live]:
    """The shared server of the browser tests, on a seeded database of its own."""
    url = templates.fresh_url(backend)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        seed(session)
    with serve(url) as base:
        found = Live(base, engine)
        found.token("steward-hn", "steward", [AU])
        found.token("approver-tw", "approver")
        found.token("approver-author", "approver")
        found.token("reader-1", "reader")
        yield found
    engine.dispose()


@pytest.fixture
def own_live(database: Database) -> Iterator[Callable[..., Live]]:
    """``own_live(anonymous_read=…)``: a server of the test's own, on a seeded database."""
    with transaction(session_factory(database.engine)) as session:
        seed(session)
    stack: list[Any] = []

    def start(anonymous_read: bool = True) -> Live:
        manager = serve(database.url, anonymous_read=anonymous_read)
        base = manager.__enter__()
        stack.append(manager)
        return Live(base, database.engine)

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


class Client:
    """An HTTP client with its own cookie jar that logs in and posts forms like a browser."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)

    def csrf(self, path: str = "/login") -> str:
        """The CSRF token a page of ours embeds for this session."""
        page = self.http.get(path)
        marker = 'name="csrf" value="'
        start = page.text.index(marker) + len(marker)
        return page.text[start:page.text.index('"', start)]

    def login(self, secret: str) -> httpx.Response:
        """Log in with an API token."""
        return self.http.post("/login", data={"csrf": self.csrf(), "token": secret,
                                              "next": "/"})

    def post(self, path: str, data: dict[str, Any] | None = None,
             files: dict[str, Any] | None = None, csrf_from: str = "/") -> httpx.Response:
        """POST a form with this session's CSRF token."""
        return self.http.post(path, data={"csrf": self.csrf(csrf_from), **(data or {})},
                              files=files)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


@pytest.fixture
def client_for() -> Iterator[Callable[[str], Client]]:
    """``client_for(base_url)``: HTTP clients closed after the test."""
    made: list[Client] = []

    def make(base: str) -> Client:
        made.append(Client(base))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium chromium-driver",
                    pytrace=False)
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page()``: a page in a fresh browser context (its own cookies), laptop-sized."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, live: Live, name: str) -> None:
    """Log in through the form, as a person would."""
    page.goto(f"{live.url}/login")
    page.fill("#token", live.secrets[name])
    page.locator("main button[type=submit]").click()
    page.wait_for_url(f"{live.url}/")


def screenshot(page: Any, name: str) -> bytes:
    """Render the full page to PNG; with ``REGISTRY_SCREENSHOTS=1`` also save it as
    docs/screenshots/NAME.png (shown in docs/web.md)."""
    png: bytes = page.screenshot(full_page=True)
    assert png.startswith(b"\x89PNG"), name
    if WRITE_SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(png)
    return png
