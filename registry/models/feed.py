"""The feed: the ordered, hash-chained record of everything published (DESIGN §9)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class FeedRecord(Base):
    """One record; ``seq`` is gapless and assigned under the feed-head lock."""

    __tablename__ = "feed_records"
    __table_args__ = (Index("ix_feed_records_release", "release_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    record: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))


class FeedHead(Base):
    """A single row: the head of the feed. Publishers lock it, which serialises them."""

    __tablename__ = "feed_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    release_id: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
