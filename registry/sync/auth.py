"""Who may use the sync endpoints.

- Reading the feed (head, pages, snapshots, deltas, checksums): any valid token, or nobody
  at all while anonymous reading is on (the default).
- Reporting a position to the ledger: a ``sync`` or ``admin`` token.
- Listing the ledger: a token of a person's role (reader, steward, approver, admin); a
  ``sync`` token reads the feed and reports, and nothing else.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import Request

from registry.config import Settings, load_settings
from registry.errors import PermissionDenied, RegistryError
from registry.services import sync_ledger, tokens
from registry.services.actors import Actor

READ = "read"
REPORT = "report"
LEDGER = "ledger"
ROLES = {
    READ: None,
    REPORT: ("sync", "admin"),
    LEDGER: sync_ledger.LEDGER_ROLES,
}


class Unauthenticated(RegistryError):
    """No credentials where some are needed (HTTP 401)."""

    code = "unauthenticated"
    http_status = 401


def settings_of(request: Request) -> Settings:
    """The app's settings, or the environment's when the app was built without them."""
    found = getattr(request.app.state, "settings", None)
    return found if isinstance(found, Settings) else load_settings()


def bearer(request: Request) -> str | None:
    """The presented token, if any; an ``Authorization`` header that is not a bearer token
    is refused (401), as GraphQL refuses it, rather than read as no token at all."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("use 'Authorization: Bearer <token>'")
    return secret.strip()


def authenticate(session: Session, secret: str) -> Actor:
    """The actor of a presented token. An unknown or revoked token is 401, exactly as on
    GraphQL (docs/graphql.md): the caller is not authenticated. 403 is kept for a valid
    token whose role may not do the thing asked."""
    try:
        return tokens.authenticate(session, secret)
    except PermissionDenied as exc:
        raise Unauthenticated(exc.message) from None


def check(actor: Actor | None, need: str, anonymous_read: bool) -> None:
    """Raise unless ``actor`` (``None``: anonymous) may do ``need``."""
    if need == LEDGER and sync_ledger.may_read(actor):
        return  # the ledger's own rule, shared with the web UI
    if actor is None:
        if need == READ and anonymous_read:
            return
        raise Unauthenticated("this needs an API token (Authorization: Bearer …)")
    allowed = ROLES[need]
    if allowed is not None and actor.role not in allowed:
        raise PermissionDenied(f"a {actor.role} token may not do this; it needs the role "
                               f"{' or '.join(allowed)}")


__all__ = ["LEDGER", "READ", "REPORT", "Unauthenticated", "authenticate", "bearer", "check",
           "settings_of"]
