"""GraphQL documents registered under their SHA-256, for persisted queries over GET."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class PersistedQuery(Base):
    """One GraphQL document, named by the SHA-256 (hex) of its text.

    Kept in the database, not in a process, so that every API node behind a load balancer
    answers a hash that any one of them registered. A row never changes: the text is a
    function of its key.
    """

    __tablename__ = "persisted_queries"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
