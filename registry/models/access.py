"""API tokens, web sessions and sync consumers: who may use the registry, and where
replicas stand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the secret is shown once at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # reader | steward | approver | admin | sync
    # | proposer
    lists: Mapped[list[Any] | None]
    # A proposer's scope: ``admin-units:15`` (a province's subtree and its agencies) or a
    # list key (that whole list).
    scope: Mapped[str | None] = mapped_column(String(160))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SyncConsumer(Base):
    """The sync ledger: one row per local system, updated when it reports its position."""

    __tablename__ = "sync_consumers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    epoch: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    release_id: Mapped[int] = mapped_column(Integer, default=0)
    lists: Mapped[list[Any] | None]
    scope: Mapped[str | None] = mapped_column(String(64))
    last_contact: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    client_version: Mapped[str | None] = mapped_column(String(64))
    # The token that first reported under this name: only it may report for the replica
    # again, so one sync token cannot rewrite another replica's position.
    owner: Mapped[str | None] = mapped_column(String(128))


class WebSession(Base):
    """A signed-in web session, kept on the server so that logging out ends it everywhere.

    The cookie carries a random session id; only its SHA-256 is stored. A copied cookie
    stops working as soon as the row is gone (logout) or past ``expires_at``.
    """

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The token the user signed in with, or (signed in through the organisation's identity
    # provider) the actor its claims mapped to: {name, role, lists, scope, subject}.
    token_hash: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
