"""Entries and their bitemporal versions (DESIGN §3).

A version is valid in the world over ``[valid_from, valid_to)`` and is what the registry
says from release ``recorded_release`` until ``superseded_release`` (exclusive). Records are
never deleted: a later release supersedes them, so every past answer stays reproducible.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class Entry(Base):
    """One real-world thing in one list, identified by (list, code) for ever."""

    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("list_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("code_lists.id"))
    code: Mapped[str] = mapped_column(String(64))
    created_release: Mapped[int] = mapped_column(ForeignKey("releases.id"))


class EntryVersion(Base):
    """The state of an entry over a valid-time interval, as recorded from a release on."""

    __tablename__ = "entry_versions"
    __table_args__ = (
        Index("ix_entry_versions_lookup", "list_id", "code", "valid_from"),
        Index("ix_entry_versions_parent", "list_id", "parent_code"),
        Index("ix_entry_versions_search", "list_id", "search_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"))
    # Denormalised from the entry so that the hot "as of" lookup is one index probe.
    list_id: Mapped[int] = mapped_column(ForeignKey("code_lists.id"))
    code: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    recorded_release: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    superseded_release: Mapped[int | None] = mapped_column(Integer)
    change_set_id: Mapped[int | None] = mapped_column(ForeignKey("change_sets.id"))
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    short_name: Mapped[str | None] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]]
    search_key: Mapped[str] = mapped_column(Text)
