"""Sign-in through the organisation's identity provider, end to end against a real OpenID
Connect provider (panva's node-oidc-provider, tests/oidc/provider.mjs) on loopback, in
Chromium: claims become the same roles a token gives; a forged state, an ID token meant for
another application and an expired ID token are refused, and a refusal signs nobody in and
writes nothing (issue: a complete console)."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import re
import secrets
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from registry.db import session_factory, transaction
from registry.models import WebSession
from tests.conftest import Database
from tests.web.conftest import seed, serve

PROVIDER = Path(__file__).resolve().parents[1] / "oidc"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _installed() -> None:
    """node-oidc-provider in tests/oidc/node_modules, installed from the npm registry on the
    first run (``npm ci``: the versions of package-lock.json), once for all test workers."""
    with open(PROVIDER / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (PROVIDER / "node_modules" / "oidc-provider").is_dir():
            return
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROVIDER,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"installing the test identity provider failed (Node.js 20 and npm "
                        f"are needed):\n{done.stdout}{done.stderr}", pytrace=False)


@contextmanager
def provider(redirect: str) -> Iterator[str]:
    """The identity provider, serving until the block ends; yields its issuer URL."""
    _installed()
    port = _free_port()
    process = subprocess.Popen(["node", "provider.mjs", str(port), redirect], cwd=PROVIDER,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening"), line
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def authorization_code(issuer: str, client_id: str, redirect: str, login: str,
                       state: str = "s", nonce: str = "n") -> tuple[str, str]:
    """The first half of an authorization-code flow with PKCE as a plain HTTP client (the
    provider's own login and consent pages): the code and its verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                         ).decode().rstrip("=")
    with httpx.Client(base_url=issuer, follow_redirects=False, timeout=10) as client:
        answer = client.get("/auth", params={
            "client_id": client_id, "response_type": "code", "scope": "openid profile",
            "redirect_uri": redirect, "state": state, "nonce": nonce,
            "code_challenge": challenge, "code_challenge_method": "S256"})
        while True:
            location = answer.headers["location"]
            if location.startswith(redirect):
                return parse_qs(urlsplit(location).query)["code"][0], verifier
            answer = client.get(location)
            if answer.status_code == 200:  # a page of the provider: log in, then consent
                action = re.search(r'action="([^"]+)"', answer.text)
                assert action, answer.text
                data = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"',
                                       answer.text))
                if 'name="login"' in answer.text:
                    data.update(login=login, password="x")
                answer = client.post(action[1], data=data)
            assert answer.status_code in (302, 303), (answer.status_code, answer.text[:500])


def code_flow(issuer: str, client_id: str, redirect: str, login: str,
              nonce: str = "n") -> dict[str, Any]:
    """A whole authorization-code flow: the token endpoint's answer."""
    code, verifier = authorization_code(issuer, client_id, redirect, login, nonce=nonce)
    found = httpx.post(f"{issuer}/token", auth=(client_id, f"{client_id}-secret"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
        "code_verifier": verifier}, timeout=10)
    assert found.status_code == 200, found.text
    token: dict[str, Any] = found.json()
    return token


@dataclass
class TokenProxy:
    """Between the registry and the provider's token endpoint: serves the provider's
    discovery document pointing the token endpoint here, and answers token requests with
    the provider's answer, late (``delay``), or carrying instead a genuine ID token the
    provider issued to ``other_client`` for the same user and nonce (a token substituted
    by someone who could sign in to another application)."""

    issuer: str
    redirect: str = ""
    delay: float = 0.0
    other_client: str | None = None
    port: int = field(default_factory=_free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def token_proxy(proxy: TokenProxy) -> Iterator[TokenProxy]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            metadata = httpx.get(f"{proxy.issuer}/.well-known/openid-configuration").json()
            metadata["token_endpoint"] = f"{proxy.url}/token"
            self._send(200, json.dumps(metadata).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            answer = httpx.post(f"{proxy.issuer}/token", content=body, headers={
                "content-type": self.headers["content-type"],
                "authorization": self.headers.get("authorization", "")})
            data = answer.json()
            if proxy.other_client and "id_token" in data:
                payload = data["id_token"].split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                data["id_token"] = code_flow(proxy.issuer, proxy.other_client, proxy.redirect,
                                             claims["sub"], nonce=claims["nonce"])["id_token"]
            time.sleep(proxy.delay)
            self._send(answer.status_code, json.dumps(data).encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", proxy.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Registry:
    """The registry served with sign-in through the provider."""

    url: str
    issuer: str
    database: Database

    def sessions(self) -> int:
        with session_factory(self.database.engine)() as session:
            return int(session.scalar(select(func.count()).select_from(WebSession)) or 0)


@pytest.fixture
def sign_in_setup(database: Database, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[Callable[..., Any]]:
    """``start(client_id="registry", proxy=None, leeway=60)`` → a context manager giving a
    :class:`Registry` wired to a fresh provider (through ``proxy``'s discovery if given)."""
    with transaction(session_factory(database.engine)) as session:
        seed(session)

    @contextmanager
    def start(client_id: str = "registry", through: Callable[[str], Any] | None = None,
              leeway: int = 60) -> Iterator[Registry]:
        registry_port = _free_port()
        redirect = f"http://127.0.0.1:{registry_port}/login/oidc/callback"
        with provider(redirect) as issuer:
            proxy_cm = through(issuer, redirect) if through else None
            proxy = proxy_cm.__enter__() if proxy_cm else None
            try:
                monkeypatch.setenv("REGISTRY_OIDC_ISSUER", issuer)
                monkeypatch.setenv("REGISTRY_OIDC_CLIENT_ID", client_id)
                monkeypatch.setenv("REGISTRY_OIDC_CLIENT_SECRET", f"{client_id}-secret")
                monkeypatch.setenv("REGISTRY_OIDC_LEEWAY_SECONDS", str(leeway))
                monkeypatch.setenv("REGISTRY_OIDC_ROLE_MAP", "dmdc-admins=admin")
                monkeypatch.setenv("REGISTRY_OIDC_ROLE_CLAIM", "registry_role")
                if proxy is not None:
                    monkeypatch.setenv("REGISTRY_OIDC_METADATA_URL",
                                       f"{proxy.url}/.well-known/openid-configuration")
                with serve(database.url, port=registry_port) as url:
                    yield Registry(url, issuer, database)
            finally:
                if proxy_cm is not None:
                    proxy_cm.__exit__(None, None, None)

    yield start


def _sign_in(page: Any, registry: Registry, login: str) -> None:
    """Through the provider's own pages, as a person would."""
    page.goto(f"{registry.url}/login")
    page.click("#oidc-login")
    page.wait_for_url(f"{registry.issuer}/interaction/*")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any")
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{registry.issuer}/interaction/*")
    page.locator("button[type=submit]").click()  # consent
    page.wait_for_url(f"{registry.url}/**")


def test_organisation_accounts_sign_in_with_their_roles(
        sign_in_setup: Callable[..., Any], new_page: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    served_contexts = _count_tls_contexts_off_the_main_thread(monkeypatch)
    with sign_in_setup() as registry:
        steward = new_page()
        _sign_in(steward, registry, "hoa.nguyen")
        assert "hoa.nguyen (cán bộ quản lý danh mục)" in steward.locator(".who").inner_text()
        steward.goto(f"{registry.url}/change-sets/new")
        assert steward.locator("#f-title").count() == 1  # a steward's form
        proposer = new_page()
        _sign_in(proposer, registry, "ubnd-ha-noi")
        assert "ubnd-ha-noi (địa phương đề xuất)" in proposer.locator(".who").inner_text()
        admin = new_page()
        _sign_in(admin, registry, "it.admin")  # a group the configuration maps to admin
        assert "it.admin (quản trị)" in admin.locator(".who").inner_text()
        assert admin.locator("nav >> text=Mã truy cập").count() == 1
        before = registry.sessions()
        nobody = new_page()
        _sign_in(nobody, registry, "nobody")  # no registry role in the claims
        assert nobody.locator("#login-error").count() == 1
        assert nobody.locator(".who").count() == 0
        assert registry.sessions() == before
        # Logging out ends the session on the server too.
        steward.locator("form[action$='/logout'] button").click()
        assert registry.sessions() == before - 1
    # The server's requests to the provider share the TLS context made at start-up: none
    # reads the CA bundle again (each would cost about 20 ms of CPU).
    assert served_contexts == [], len(served_contexts)


def _count_tls_contexts_off_the_main_thread(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that load CA certificates into a TLS context from now on,
    but the main one (where the test and the app's start-up run)."""
    from httpx._transports import default

    # As in production: without the suite's shared contexts (tests/run_costs.py).
    made = default.create_ssl_context
    monkeypatch.setattr(default, "create_ssl_context", getattr(made, "__wrapped__", made))
    found: list[str] = []
    load = ssl.SSLContext.load_verify_locations

    def counted(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            found.append(threading.current_thread().name)
        load(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    return found


def test_a_forged_or_replayed_state_is_refused(
        sign_in_setup: Callable[..., Any], new_page: Callable[..., Any],
        caplog: pytest.LogCaptureFixture) -> None:
    with sign_in_setup() as registry:
        callback = f"{registry.url}/login/oidc/callback"
        # A victim's browser has started to sign in; an attacker's own code arrives in it
        # (login CSRF): its state is not the one this browser's session holds.
        victim = new_page()
        victim.goto(f"{registry.url}/login/oidc")
        victim.wait_for_url(f"{registry.issuer}/interaction/*")
        code, _ = authorization_code(registry.issuer, "registry", callback, "it.admin",
                                     state="attacker")
        with caplog.at_level(logging.WARNING, logger="registry.web"):
            answer = victim.goto(f"{callback}?code={code}&state=attacker&iss="
                                 f"{registry.issuer}")
        assert answer is not None and answer.status == 401
        assert victim.locator("#login-error").count() == 1
        assert "MismatchingStateError" in caplog.text
        # A genuine callback replayed in another browser (no state in its session) fails.
        person = new_page()
        seen: list[str] = []
        person.on("request", lambda r: seen.append(r.url) if r.url.startswith(callback)
                  else None)
        _sign_in(person, registry, "hoa.nguyen")
        assert seen and registry.sessions() == 1
        thief = new_page()
        replay = thief.goto(seen[0])
        assert replay is not None and replay.status == 401
        assert thief.locator(".who").count() == 0
        assert registry.sessions() == 1


def test_an_id_token_meant_for_another_application_is_refused(
        sign_in_setup: Callable[..., Any], new_page: Callable[..., Any],
        caplog: pytest.LogCaptureFixture) -> None:
    def substituting(issuer: str, redirect: str) -> Any:
        return token_proxy(TokenProxy(issuer, redirect, other_client="other-app"))

    with sign_in_setup(through=substituting) as registry:
        page = new_page()
        with caplog.at_level(logging.WARNING, logger="registry.web"):
            _sign_in(page, registry, "hoa.nguyen")
        assert page.locator("#login-error").count() == 1 and page.locator(".who").count() == 0
        assert registry.sessions() == 0
        # Issuer, signature, nonce and expiry are right: only the audience is not the
        # registry, which the audience checks of OpenID Connect Core §3.1.3.7 refuse.
        assert re.search(r"(Invalid|Missing)ClaimError: .*'(aud|azp)'", caplog.text), caplog.text


def test_an_expired_id_token_is_refused(sign_in_setup: Callable[..., Any],
                                       new_page: Callable[..., Any],
                                       caplog: pytest.LogCaptureFixture) -> None:
    # "short-lived" ID tokens live one second; the token endpoint answers 2.5 s late.
    with sign_in_setup("short-lived", through=lambda issuer, redirect: token_proxy(
            TokenProxy(issuer, redirect, delay=2.5)), leeway=0) as registry:
        page = new_page()
        with caplog.at_level(logging.WARNING, logger="registry.web"):
            _sign_in(page, registry, "hoa.nguyen")
        assert page.locator("#login-error").count() == 1 and page.locator(".who").count() == 0
        assert registry.sessions() == 0
        assert "ExpiredTokenError" in caplog.text
