"""API tokens: created with a role and optional lists, stored only as SHA-256 hashes.

A token is shown once, at creation. Authenticating hashes the presented secret and looks
the hash up, so the database never holds anything that would let a reader act as a user.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.errors import Conflict, NotFound, PermissionDenied, ValidationError
from registry.models import ApiToken
from registry.services.actors import ROLES, Actor
from registry.services.proposer_scope import parse_token_scope

TOKEN_ROLES = (*ROLES, "sync")
PREFIX = "rgt_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def hash_secret(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CreatedToken:
    """A new token: the secret exists only here, once."""

    id: int
    name: str
    role: str
    lists: frozenset[str] | None
    secret: str
    scope: str | None = None


def create_token(session: Session, actor: Actor, name: str, role: str,
                 lists: list[str] | None = None, scope: str | None = None) -> CreatedToken:
    """Issue a token for ``name`` with ``role``; ``lists`` limits a steward's edits and
    ``scope`` is a proposer's province or list (services/proposer_scope)."""
    actor.require_role("admin")
    if not _NAME.match(name or ""):
        raise ValidationError("name", "pattern",
                              "must be 1–128 letters, digits or . _ @ -, starting with a "
                              "letter or digit")
    if role not in TOKEN_ROLES:
        raise ValidationError("role", "enum", f"must be one of: {', '.join(TOKEN_ROLES)}")
    clean = sorted({k.strip() for k in lists or [] if k.strip()}) or None
    if role == "proposer":
        if not scope or not scope.strip():
            raise ValidationError("scope", "required",
                                  "a proposer needs a scope: a province (e.g. 15) or a list")
        if clean:
            raise ValidationError("lists", "proposer",
                                  "a proposer's lists follow from its scope; give only a scope")
        scope = parse_token_scope(session, scope)
    elif scope:
        raise ValidationError("scope", "role", "only a proposer has a scope")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"a token named '{name}' exists already (names stay taken after "
                       "revocation, for the audit trail); pick another name")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, lists=clean, scope=scope,
                   token_hash=hash_secret(secret), created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return CreatedToken(row.id, name, role, frozenset(clean) if clean else None, secret,
                        scope)


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked ones included (the audit wants them), by name."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(session: Session, actor: Actor, name: str) -> ApiToken:
    """Revoke a token by name; revoking twice is a conflict, not a silent success."""
    actor.require_role("admin")
    row = session.scalars(select(ApiToken).where(ApiToken.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"no token named '{name}'")
    if row.revoked_at is not None:
        raise Conflict(f"token '{name}' was revoked on {row.revoked_at.isoformat()}")
    row.revoked_at = datetime.now(UTC)
    session.flush()
    return row


def actor_of(row: ApiToken) -> Actor:
    """The actor a token row acts as; its name is what the audit trail records."""
    lists = frozenset(str(k) for k in row.lists) if row.lists else None
    return Actor(name=row.name, role=row.role, lists=lists, scope=row.scope)


def authenticate(session: Session, secret: str) -> Actor:
    """The actor of a presented secret; unknown and revoked tokens are refused alike."""
    row = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_secret(secret.strip()))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        raise PermissionDenied("the API token is unknown or revoked")
    return actor_of(row)


def touch(session: Session, name: str) -> None:
    """Record that a token was used to write (reads do not write, to stay read-only)."""
    session.execute(update(ApiToken).where(ApiToken.name == name)
                    .values(last_used_at=datetime.now(UTC)))
