"""Who is browsing, and whether a form post really comes from our own page.

The signed session cookie holds the SHA-256 of the user's API token, never the token: a
leaked cookie expires with the session, and revoking the token ends every session at the
next request, because each request looks the token up again. Each session has a random
CSRF token that every POST must echo (a hidden field or the ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from registry.errors import PermissionDenied
from registry.models import ApiToken
from registry.services.actors import Actor
from registry.services.tokens import actor_of, authenticate, hash_secret

log = logging.getLogger("registry.web")

SESSION_TOKEN = "token_sha256"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SECRET_ENV = "REGISTRY_SECRET_KEY"
SECRET_FILE_ENV = "REGISTRY_SECRET_FILE"


def _default_secret_file() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "registry" / "web-secret"


def session_secret() -> str:
    """The key that signs session cookies.

    ``REGISTRY_SECRET_KEY`` when set (required when workers run on several machines);
    otherwise a random key kept in a file readable only by this user, so that every worker
    on one machine, and restarts, share it.
    """
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        return configured
    path = Path(os.environ.get(SECRET_FILE_ENV) or _default_secret_file())
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    candidate = secrets.token_urlsafe(48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when workers start together, the first one's key wins and all read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(candidate)
        return candidate
    except FileExistsError:
        return path.read_text("ascii").strip()
    except OSError as exc:
        log.warning("cannot keep the web session key in %s (%s); sessions last until this "
                    "process stops; set %s", path, exc, SECRET_ENV)
        return candidate


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


def csrf_ok(request: Request, presented: object) -> bool:
    """Whether ``presented`` (form field or header) matches the session's token."""
    expected = request.session.get(SESSION_CSRF)
    if not isinstance(expected, str) or not expected:
        return False
    if not isinstance(presented, str) or not presented:
        presented = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(expected.encode(), str(presented).encode())


def current_actor(request: Request, session: Session) -> Actor | None:
    """The logged-in actor, or ``None``; a revoked or deleted token logs the user out."""
    digest = request.session.get(SESSION_TOKEN)
    if not isinstance(digest, str):
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
    if row is None or row.revoked_at is not None:
        request.session.pop(SESSION_TOKEN, None)
        return None
    return actor_of(row)


def log_in(request: Request, session: Session, secret: str) -> Actor:
    """Check the token and start a fresh session for it (new CSRF token: no fixation)."""
    actor = authenticate(session, secret)
    if actor.role == "sync":
        raise PermissionDenied("a sync token cannot log in to the web UI")
    request.session.clear()
    request.session[SESSION_TOKEN] = hash_secret(secret.strip())
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return actor


def log_out(request: Request) -> None:
    """End the session."""
    request.session.clear()
