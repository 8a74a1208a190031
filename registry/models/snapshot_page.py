"""Snapshot pages as served, stored once per release so that bootstraps cost a read (§9.4)."""

from __future__ import annotations

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class SnapshotPage(Base):
    """One page of a snapshot, gzipped, under the hash of what names it.

    A snapshot page is a pure function of (epoch, release, subscription, position, limit),
    so the first replica to ask pays for building it and every later one, on any server
    process of the centre and after any restart, gets these bytes.
    """

    __tablename__ = "snapshot_pages"
    __table_args__ = (Index("ix_snapshot_pages_release", "release_id"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(64))
    release_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
