"""Who is browsing, and whether a form post really comes from our own page.

A session lives on the server (``web_sessions``): the signed cookie carries only a random
session id, whose SHA-256 names the row, and the row names the SHA-256 of the user's API
token, never the token. Logging out deletes the row, so a copied cookie stops working at
once instead of at its expiry; revoking the token ends every session at the next request,
because each request looks the token up again. Each session has a random CSRF token that
every POST must echo (a hidden field or the ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from registry.errors import PermissionDenied
from registry.models import ApiToken, WebSession
from registry.services.actors import Actor
from registry.services.tokens import actor_of, authenticate, hash_secret

log = logging.getLogger("registry.web")

SESSION_ID = "sid"
SESSION_HOURS = 8
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


def _id_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def current_actor(request: Request, session: Session) -> Actor | None:
    """The logged-in actor, or ``None``.

    A session the server no longer holds (logged out, expired), or whose token was revoked
    or deleted, is anonymous whatever its cookie says.
    """
    sid = request.session.get(SESSION_ID)
    if not isinstance(sid, str) or not sid:
        return None
    held = session.get(WebSession, _id_hash(sid))
    if held is None or _aware(held.expires_at) <= datetime.now(UTC):
        request.session.pop(SESSION_ID, None)
        return None
    if held.actor is not None:  # signed in through the identity provider
        lists = held.actor.get("lists")
        return Actor(name=str(held.actor["name"]), role=str(held.actor["role"]),
                     lists=frozenset(lists) if lists else None, scope=held.actor.get("scope"))
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == held.token_hash)
                          ).one_or_none()
    if row is None or row.revoked_at is not None:
        request.session.pop(SESSION_ID, None)
        return None
    return actor_of(row)


def log_in(request: Request, session: Session, secret: str) -> Actor:
    """Check the token and start a fresh session for it (new id and CSRF token: no
    fixation); expired sessions are swept on the way."""
    actor = authenticate(session, secret)
    if actor.role == "sync":
        raise PermissionDenied("a sync token cannot log in to the web UI")
    _start_session(request, session, token_hash=hash_secret(secret.strip()))
    return actor


def log_in_actor(request: Request, session: Session, actor: Actor, subject: str) -> None:
    """Start a fresh session for an actor the identity provider vouched for."""
    _start_session(request, session, actor={
        "name": actor.name, "role": actor.role, "scope": actor.scope, "subject": subject,
        "lists": sorted(actor.lists) if actor.lists else None})


def _start_session(request: Request, session: Session, token_hash: str | None = None,
                   actor: dict[str, Any] | None = None) -> None:
    now = datetime.now(UTC)
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    previous = request.session.get(SESSION_ID)
    if isinstance(previous, str) and previous:
        # Signing in again replaces the session: a copy of the old cookie ends here too.
        session.execute(delete(WebSession).where(WebSession.id_hash == _id_hash(previous)))
    sid = secrets.token_urlsafe(32)
    session.add(WebSession(id_hash=_id_hash(sid), token_hash=token_hash, actor=actor,
                           created_at=now, expires_at=now + timedelta(hours=SESSION_HOURS)))
    session.flush()
    request.session.clear()
    request.session[SESSION_ID] = sid
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)


def log_out(request: Request, session: Session) -> None:
    """End the session on the server, then in the browser: a copy of the cookie made
    before logging out is worth nothing after."""
    sid = request.session.get(SESSION_ID)
    if isinstance(sid, str) and sid:
        session.execute(delete(WebSession).where(WebSession.id_hash == _id_hash(sid)))
    request.session.clear()
