"""Logging in with a registry token, and out."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from registry.errors import PermissionDenied
from registry.web.oidc_pages import enabled as oidc_enabled
from registry.web.plumbing import Rendered, field
from registry.web.rendering import Web
from registry.web.security import log_in, log_out


def _next(web: Web, value: str) -> str:
    # Only paths of this site: an open redirect would let a link send users elsewhere.
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{web.base}/"


def login_page(web: Web, session: Session) -> Response:
    """The login form."""
    return web.render("login.html", next=_next(web, web.request.query_params.get("next", "")),
                      error=None, oidc=oidc_enabled())


def login(web: Web, session: Session, form: FormData) -> Response:
    """Check the token; on success a fresh session, on failure the form again."""
    target = _next(web, field(form, "next"))
    try:
        actor = log_in(web.request, session, field(form, "token"))
    except PermissionDenied:
        raise Rendered(web.render("login.html", 401, next=target, error=web.t("login.bad"),
                                  oidc=oidc_enabled())) from None
    web.actor = actor
    web.flash(web.t("login.done"))
    return web.redirect(target)


def logout(web: Web, session: Session, form: FormData) -> Response:
    """End the session, on the server too."""
    log_out(web.request, session)
    web.actor = None
    web.flash(web.t("logout.done"))
    return web.redirect(f"{web.base}/")
