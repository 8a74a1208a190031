"""Complete change pages as served, stored by the publish that completed them (§9.5)."""

from __future__ import annotations

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class StoredChangePage(Base):
    """One complete change page in canonical lines, gzipped, with the hash of its last
    record (its validator).

    A complete page never changes within an epoch, so the release that completes it can
    build it in its own transaction: the followers it wakes then read bytes instead of
    making the centre build and compress the same pages while they wait.
    """

    __tablename__ = "change_pages"
    __table_args__ = (Index("ix_change_pages_release", "release_id"),)

    epoch: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    page: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    release_id: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
