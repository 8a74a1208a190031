"""Releases: record time. The state at release R is reproducible for ever."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class Release(Base):
    """A published release; ``id`` is the monotonic release number."""

    __tablename__ = "releases"
    # Target of the versions' (release, change set) key.
    __table_args__ = (UniqueConstraint("id", "change_set_id", name="uq_releases_change_set"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    change_set_id: Mapped[int | None] = mapped_column(ForeignKey("change_sets.id"))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any]]
    first_seq: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer)
