"""Routes this interface mounts in the ASGI app: the stewards' web UI at ``/``.

The app factory mounts these last, after GraphQL and the sync feed, so ``/graphql``,
``/sync/v1``, ``/healthz`` and ``/metrics`` keep their own handlers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.body_limit import BodyRule
from registry.limits import Limits, env_name
from registry.web import (
    admin_pages,
    auth_pages,
    browse,
    changeset_pages,
    comment_pages,
    convert_page,
    oidc_pages,
    webhook_pages,
)
from registry.web.plumbing import Endpoints
from registry.web.rendering import Web
from registry.web.security import SESSION_HOURS, session_secret

STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "registry_session"
# Paths of the other interfaces: an unknown one there is their 404, not an HTML page.
FOREIGN = ("/graphql", "/sync/", "/healthz", "/metrics", "/feed")

# Scripts and styles only from our own files: an injected <script> cannot run even if it
# slipped past escaping, and inline event handlers are refused by the browser.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()),
           (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY")]


class SecurityHeaders:
    """Adds the headers above to every response of the UI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Sessions:
    """Signed cookie sessions, keyed on first use.

    Building the app (as every test of the other interfaces does) then never reads or
    creates the key file; only serving a page of the UI does.
    """

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure
        self.inner: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inner is None:
            self.inner = SessionMiddleware(self.app, secret_key=session_secret(),
                                           session_cookie=SESSION_COOKIE,
                                           max_age=SESSION_HOURS * 3600, same_site="lax",
                                           https_only=self.secure)
        await self.inner(scope, receive, send)


def _not_found(web: Web, session: Session) -> Response:
    if web.request.url.path.startswith(FOREIGN):
        return PlainTextResponse("Not Found", status_code=404)
    return web.render("error.html", 404, title=web.t("error.not_found"),
                      message=web.t("error.not_found_text"))


def _secure_cookies() -> bool:
    return os.environ.get("REGISTRY_SECURE_COOKIES", "").lower() in ("1", "true", "yes")


def body_rules(sessions: Any, limits: Limits) -> list[BodyRule]:
    """Every post of the UI (forms, uploads) at the upload limit, refused with a page in the
    reader's language; the app mounts them after the API's rules (registry.body_limit)."""
    assert isinstance(sessions, sessionmaker)
    page = Endpoints(sessions).too_large(limits.upload_bytes)
    return [BodyRule("/", limits.upload_bytes, env_name("upload_bytes"),
                     Sessions(page, secure=_secure_cookies()))]


def routes(sessions: Any) -> list[BaseRoute]:
    """Starlette routes of this interface; ``sessions`` is the app's session factory."""
    assert isinstance(sessions, sessionmaker)
    factory: sessionmaker[Session] = sessions
    ep = Endpoints(factory)
    cs = changeset_pages
    inner: list[BaseRoute] = [
        Route("/", ep.read(browse.home), methods=["GET"]),
        Route("/login", ep.read(auth_pages.login_page, public=True), methods=["GET"]),
        Route("/login", ep.form(auth_pages.login, login=False), methods=["POST"]),
        *oidc_pages.routes(factory),
        Route("/logout", ep.form(auth_pages.logout, login=False), methods=["POST"]),
        Route("/lists/{key}", ep.read(browse.list_page), methods=["GET"]),
        Route("/lists/{key}/{code}", ep.read(browse.entry_page), methods=["GET"]),
        Route("/releases", ep.read(browse.releases_page), methods=["GET"]),
        Route("/consumers", ep.read(browse.sync_page), methods=["GET"]),
        Route("/convert", ep.read(convert_page.page), methods=["GET"]),
        Route("/convert", ep.form(convert_page.convert, login=False), methods=["POST"]),
        Route("/convert/columns", ep.form(convert_page.columns, login=False),
              methods=["POST"]),
        Route("/change-sets", ep.read(cs.list_page), methods=["GET"]),
        Route("/change-sets", ep.form(cs.create), methods=["POST"]),
        Route("/change-sets/new", ep.read(cs.new_page), methods=["GET"]),
        Route("/change-sets/{cs_id}", ep.read(cs.detail_page), methods=["GET"]),
        Route("/change-sets/{cs_id}/operations", ep.form(cs.add_operation), methods=["POST"]),
        Route("/change-sets/{cs_id}/operations/{op_id}/remove", ep.form(cs.remove_operation),
              methods=["POST"]),
        Route("/change-sets/{cs_id}/upload", ep.form(cs.upload), methods=["POST"]),
        Route("/change-sets/{cs_id}/upload/{token}", ep.form(cs.save_upload),
              methods=["POST"]),
        *(Route(f"/change-sets/{{cs_id}}/{action}", ep.form(getattr(cs, action)),
                methods=["POST"])
          for action in ("submit", "withdraw", "approve", "reject", "publish",
                         "request_changes", "adopt")),
        Route("/change-sets/{cs_id}/comments", ep.form(comment_pages.comment),
              methods=["POST"]),
        Route("/tokens", ep.read(admin_pages.tokens_page), methods=["GET"]),
        Route("/tokens", ep.form(admin_pages.create_token), methods=["POST"]),
        Route("/tokens/{name}/revoke", ep.form(admin_pages.revoke_token), methods=["POST"]),
        Route("/audit", ep.read(admin_pages.audit_page), methods=["GET"]),
        Route("/webhooks", ep.read(webhook_pages.list_page), methods=["GET"]),
        Route("/webhooks", ep.form(webhook_pages.add), methods=["POST"]),
        Route("/webhooks/{sub_id}", ep.read(webhook_pages.detail_page), methods=["GET"]),
        Route("/webhooks/{sub_id}/replay", ep.form(webhook_pages.replay), methods=["POST"]),
        Route("/webhooks/{sub_id}/remove", ep.form(webhook_pages.remove), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/{path:path}", ep.read(_not_found, public=True), methods=["GET"]),
    ]
    middleware = [Middleware(SecurityHeaders), Middleware(Sessions, secure=_secure_cookies())]
    return [Mount("/", routes=inner, middleware=middleware)]
