"""Entries and their bitemporal versions (DESIGN §3).

A version is valid in the world over ``[valid_from, valid_to)`` and is what the registry
says from release ``recorded_release`` until ``superseded_release`` (exclusive). Records are
never deleted: a later release supersedes them, so every past answer stays reproducible.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class Entry(Base):
    """One real-world thing in one list, identified by (list, code) for ever."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("list_id", "code"),
        # The target of the versions' composite key, which ties their copies of list and code
        # to the entry.
        UniqueConstraint("id", "list_id", "code", name="uq_entries_identity"),
    )

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
        # The few superseded rows, found by the release that superseded them (checksums
        # kept at publish time subtract them); new rows are NULL here and cost nothing.
        Index("ix_entry_versions_superseded", "superseded_release",
              postgresql_where=text("superseded_release IS NOT NULL"),
              sqlite_where=text("superseded_release IS NOT NULL")),
        # List and code are copied from the entry so that the hot "as of" lookup is one index
        # probe, and the change set from the release; composite keys hold the copies equal to
        # their sources, with one check per row each (a reform inserts tens of thousands).
        ForeignKeyConstraint(["entry_id", "list_id", "code"],
                             ["entries.id", "entries.list_id", "entries.code"],
                             name="fk_entry_versions_entry_id_entries"),
        ForeignKeyConstraint(["recorded_release", "change_set_id"],
                             ["releases.id", "releases.change_set_id"],
                             name="fk_entry_versions_recorded_release_releases"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(Integer)
    list_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    recorded_release: Mapped[int] = mapped_column(Integer)
    superseded_release: Mapped[int | None] = mapped_column(Integer)
    change_set_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    short_name: Mapped[str | None] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]]
    search_key: Mapped[str] = mapped_column(Text)
