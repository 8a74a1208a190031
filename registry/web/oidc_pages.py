"""Sign-in through the organisation's identity provider: OpenID Connect, authorization code
with PKCE (S256), next to the registry's own tokens.

``REGISTRY_OIDC_ISSUER``, ``REGISTRY_OIDC_CLIENT_ID`` and ``REGISTRY_OIDC_CLIENT_SECRET``
turn it on (``REGISTRY_OIDC_METADATA_URL`` if discovery is not at the issuer's
well-known address, ``REGISTRY_OIDC_REDIRECT_URI`` behind a proxy that rewrites hosts,
``REGISTRY_OIDC_LEEWAY_SECONDS`` for clock skew, 60). Authlib does the protocol: state,
nonce and PKCE kept in the signed session cookie, the code exchanged with the client's
secret and verifier, and the ID token's signature (the provider's published keys), issuer,
audience, expiry and nonce checked. The claims become an actor
(:mod:`registry.services.identity`); any failure signs nobody in and writes nothing.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from registry.db import transaction
from registry.errors import RegistryError
from registry.services.identity import ClaimMapping, actor_from_claims
from registry.web.rendering import Web, make_web
from registry.web.security import current_actor, log_in_actor

log = logging.getLogger("registry.web")
NEXT = "oidc_next"


@dataclass(frozen=True)
class OidcSettings:
    """Where the identity provider is and who the registry is to it."""

    issuer: str
    client_id: str
    client_secret: str | None
    metadata_url: str
    redirect_uri: str | None
    leeway: int

    @classmethod
    def from_env(cls) -> OidcSettings | None:
        """The settings, or ``None`` when ``REGISTRY_OIDC_ISSUER`` is not set."""
        issuer = os.environ.get("REGISTRY_OIDC_ISSUER", "").strip().rstrip("/")
        if not issuer:
            return None
        client_id = os.environ.get("REGISTRY_OIDC_CLIENT_ID", "").strip()
        if not client_id:
            raise RegistryError("REGISTRY_OIDC_CLIENT_ID is required with "
                                "REGISTRY_OIDC_ISSUER")
        leeway = os.environ.get("REGISTRY_OIDC_LEEWAY_SECONDS", "60")
        return cls(issuer=issuer, client_id=client_id,
                   client_secret=os.environ.get("REGISTRY_OIDC_CLIENT_SECRET") or None,
                   metadata_url=os.environ.get("REGISTRY_OIDC_METADATA_URL")
                   or f"{issuer}/.well-known/openid-configuration",
                   redirect_uri=os.environ.get("REGISTRY_OIDC_REDIRECT_URI") or None,
                   leeway=int(leeway) if leeway.isdigit() else 60)


def _next(value: Any, base: str) -> str:
    # Only paths of this site: an open redirect would let a link send users elsewhere.
    text = value if isinstance(value, str) else ""
    if text.startswith("/") and not text.startswith("//") and "\\" not in text:
        return text
    return f"{base}/"


def routes(sessions: sessionmaker[Session]) -> list[Route]:
    """``/login/oidc`` and its callback, when an identity provider is configured."""
    settings = OidcSettings.from_env()
    if settings is None:
        return []
    # Imported only when configured: Authlib costs every command its import time, and it
    # warns about its own httpx module, which it uses here as documented.
    with warnings.catch_warnings():
        import authlib.deprecate  # noqa: F401  (it sets its warnings to "always" first)

        warnings.simplefilter("ignore")
        from authlib.integrations.base_client.errors import OAuthError
        from authlib.integrations.starlette_client import OAuth
        from joserfc.errors import JoseError
    mapping = ClaimMapping.from_env()
    oauth = OAuth()
    # Authlib makes an httpx client per request, and httpx would read the whole CA bundle
    # for each (about 20 ms of CPU per sign-in step); one TLS context serves them all.
    provider = oauth.register(
        name="organisation", client_id=settings.client_id,
        client_secret=settings.client_secret, server_metadata_url=settings.metadata_url,
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256",
                       "verify": httpx.create_ssl_context()})

    def refused(request: Request, reason: str, status: int = 401) -> Response:
        with sessions() as session:
            web = make_web(request, current_actor(request, session))
        log.warning("sign-in through the identity provider refused: %s", reason)
        return web.render("login.html", status, next=f"{web.base}/", error=web.t(
            "login.oidc_failed"), oidc=True)

    async def start(request: Request) -> Response:
        web_base = str(request.scope.get("root_path", "")).rstrip("/")
        redirect = settings.redirect_uri or str(request.url_for("oidc_callback"))
        try:
            answer: Response = await provider.authorize_redirect(request, redirect)
        except (OAuthError, httpx.HTTPError, ValueError) as exc:
            return refused(request, f"the provider cannot be reached: {exc}", 502)
        request.session[NEXT] = _next(request.query_params.get("next"), web_base)
        return answer

    async def callback(request: Request) -> Response:
        target = _next(request.session.pop(NEXT, None),
                       str(request.scope.get("root_path", "")).rstrip("/"))
        try:
            token = await provider.authorize_access_token(request, leeway=settings.leeway)
        except (OAuthError, JoseError) as exc:  # Authlib checks ID tokens with joserfc
            return refused(request, f"{type(exc).__name__}: {exc}")
        except httpx.HTTPError as exc:
            return refused(request, f"the provider cannot be reached: {exc}", 502)
        claims = dict(token.get("userinfo") or {})
        if not claims:
            return refused(request, "no ID token in the provider's answer")

        def sign_in() -> Response:
            try:
                with transaction(sessions) as session:
                    actor = actor_from_claims(session, claims, mapping)
                    if actor.role == "sync":
                        raise RegistryError("a sync role cannot sign in to the web UI")
                    log_in_actor(request, session, actor, str(claims.get("sub", "")))
            except RegistryError as exc:
                return refused(request, exc.message, 403)
            web = make_web(request, actor)
            web.flash(web.t("login.done"))
            log.info("signed in through the identity provider", extra={"fields": {
                "actor": actor.name, "role": actor.role, "subject": claims.get("sub")}})
            return web.redirect(target)

        result: Response = await run_in_threadpool(sign_in)
        return result

    return [Route("/login/oidc", start, methods=["GET"]),
            Route("/login/oidc/callback", callback, methods=["GET"], name="oidc_callback")]


def enabled() -> bool:
    """Whether the login page offers the identity provider."""
    return bool(os.environ.get("REGISTRY_OIDC_ISSUER", "").strip())


__all__ = ["OidcSettings", "Web", "enabled", "routes"]
