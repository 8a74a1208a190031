"""Turning page functions into Starlette endpoints: sessions, login, CSRF and errors.

A read page runs in one session that is never committed. A form post is checked for its
CSRF token before anything else, then runs in one transaction (the edge owns it): a page
function that wants to answer with an error raises :class:`Rendered`, so the transaction
rolls back and nothing it flushed is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.db import transaction
from registry.errors import Conflict, NotFound, PermissionDenied, RegistryError, ValidationError
from registry.web.errors import error_text
from registry.web.rendering import Web, make_web
from registry.web.security import CSRF_FIELD, csrf_ok, current_actor

log = logging.getLogger("registry.web")

ReadPage = Callable[[Web, Session], Response]
FormPage = Callable[[Web, Session, FormData], Response]
Endpoint = Callable[[Request], Awaitable[Response]]

MAX_FIELDS = 5000


class Rendered(Exception):
    """Answer with ``response`` after rolling the transaction back."""

    def __init__(self, response: Response) -> None:
        super().__init__("rendered")
        self.response = response


def status_of(exc: RegistryError) -> int:
    """The HTTP status of a domain error."""
    return exc.http_status


def title_of(exc: RegistryError) -> str:
    """The catalogue key of a domain error's page title."""
    if isinstance(exc, NotFound):
        return "error.not_found"
    if isinstance(exc, PermissionDenied):
        return "error.forbidden"
    if isinstance(exc, Conflict):
        return "error.conflict"
    return "error.validation" if isinstance(exc, ValidationError) else "error.title"


def error_page(web: Web, exc: RegistryError) -> Response:
    """A page that names the problem in the reader's language."""
    return web.render("error.html", status_of(exc), title=web.t(title_of(exc)),
                      message=error_text(web.t, exc))


def login_redirect(web: Web) -> Response:
    """Send an anonymous visitor to the login page, back here afterwards."""
    target = web.request.url.path
    if web.request.url.query:
        target += "?" + web.request.url.query
    web.flash(web.t("login.required"), "info")
    return web.redirect(f"{web.base}/login?next={quote(target, safe='')}")


class Endpoints:
    """Wraps page functions with the app's session factory."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def read(self, page: ReadPage, *, public: bool = False) -> Callable[[Request], Response]:
        """A GET page; ``public`` pages (login) show even when anonymous reads are off."""

        def endpoint(request: Request) -> Response:
            with self.sessions() as session:
                web = make_web(request, current_actor(request, session))
                if not public and not web.can_read():
                    return login_redirect(web)
                try:
                    return page(web, session)
                except Rendered as rendered:
                    return rendered.response
                except RegistryError as exc:
                    return error_page(web, exc)
                finally:
                    session.rollback()

        return endpoint

    def form(self, page: FormPage, *, login: bool = True) -> Endpoint:
        """A POST: CSRF first, then the page function in one transaction."""

        async def endpoint(request: Request) -> Response:
            # The body's size is bounded while it streams in (registry.body_limit, with the
            # page of :meth:`too_large`), so the form parser never reads past the limit.
            form = await request.form(max_files=2, max_fields=MAX_FIELDS)
            try:
                return await run_in_threadpool(self._post, request, form, page, login)
            finally:
                await form.close()

        return endpoint

    def too_large(self, limit: int) -> ASGIApp:
        """The page that refuses a body over ``limit`` bytes, in the reader's language
        (an ASGI app for :class:`registry.body_limit.BodyRule`; it needs the session)."""

        def render(request: Request) -> Response:
            with self.sessions() as session:
                web = make_web(request, current_actor(request, session))
            return web.render("error.html", 413, title=web.t("error.validation"),
                              message=web.t("error.body_too_large", size=size_text(limit)))

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            response = await run_in_threadpool(render, Request(scope, receive))
            response.headers["connection"] = "close"  # the rest of the body is not read
            await response(scope, receive, send)

        return answer

    def _post(self, request: Request, form: FormData, page: FormPage, login: bool) -> Response:
        if not csrf_ok(request, form.get(CSRF_FIELD)):
            # Before any database work: a forged post learns nothing and changes nothing.
            refused = make_web(request, None)
            log.warning("refused a POST with a bad CSRF token", extra={"fields": {
                "path": request.url.path}})
            return refused.render("error.html", 403, title=refused.t("error.forbidden"),
                                  message=refused.t("error.csrf"))
        web: Web | None = None
        try:
            with transaction(self.sessions) as session:
                web = make_web(request, current_actor(request, session))
                if login and web.actor is None:
                    return login_redirect(web)
                return page(web, session, form)
        except Rendered as rendered:
            return rendered.response
        except RegistryError as exc:
            if web is None:
                raise
            return error_page(web, exc)


def require_admin(web: Web) -> None:
    """Refuse anyone but an administrator (the page of the refusal says so)."""
    if web.actor is None or web.actor.role != "admin":
        raise PermissionDenied("only an administrator may use this page")


MAX_ID = 2**31 - 1
"""The largest id the tables hold: ids, versions and release numbers are INTEGER columns
(32 bits on PostgreSQL, which refuses a larger parameter instead of matching nothing)."""


def whole_number(raw: str) -> int | None:
    """A number from a path or a form, if ``raw`` is one that a database can hold.

    Only ASCII digits: ``str.isdigit`` also accepts "²" (which ``int`` refuses) and other
    scripts' digits. A number past :data:`MAX_ID` names nothing that exists; sent to the
    database it would be an overflow error, not an answer.
    """
    if not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


def size_text(limit: int) -> str:
    """A size limit as people write it: 20 MB, 512 KB, 100 byte."""
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    return f"{limit // 1024} KB" if limit % 1024 == 0 else f"{limit} byte"


def field(form: FormData, name: str) -> str:
    """A text field, stripped; absent and file fields read as empty."""
    value: Any = form.get(name)
    return value.strip() if isinstance(value, str) else ""
