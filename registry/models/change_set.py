"""Change sets and their operations: the only way data changes (DESIGN §3)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class ChangeSet(Base):
    """Operations under one legal basis and one effective date, with a review workflow."""

    __tablename__ = "change_sets"
    __table_args__ = (Index("ix_change_sets_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    legal_number: Mapped[str] = mapped_column(String(128))
    legal_date: Mapped[date] = mapped_column(Date)
    legal_issuer: Mapped[str] = mapped_column(Text)
    legal_url: Mapped[str | None] = mapped_column(Text)
    effective_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(128))
    # A locality's proposal: the proposer's scope when it was opened, and the proposer once
    # a central steward has adopted it as author.
    proposal_scope: Mapped[str | None] = mapped_column(String(160))
    proposed_by: Mapped[str | None] = mapped_column(String(128))
    reviewer: Mapped[str | None] = mapped_column(String(128))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    release_id: Mapped[int | None] = mapped_column(Integer)
    # SHA-256 of the plan the approver reviewed: publishing re-plans under the feed lock
    # and sends the set back for review when the plan is no longer the approved one.
    approved_plan: Mapped[str | None] = mapped_column(String(64))
    # Optimistic concurrency: every change bumps it; writers name the version they saw.
    version: Mapped[int] = mapped_column(Integer, default=1)

    # The UPDATE names the version it read, so two concurrent reviewers cannot both win.
    __mapper_args__ = {  # noqa: RUF012  (SQLAlchemy reads it as declared on the class)
        "version_id_col": version, "version_id_generator": False}


class Operation(Base):
    """One operation of a change set, in the change-set file vocabulary."""

    __tablename__ = "operations"
    __table_args__ = (Index("ix_operations_change_set", "change_set_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_set_id: Mapped[int] = mapped_column(ForeignKey("change_sets.id"))
    position: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(32))
    list_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]


class ChangeSetEvent(Base):
    """Audit trail of the workflow: who did what to a change set, and when."""

    __tablename__ = "change_set_events"
    __table_args__ = (Index("ix_change_set_events_change_set", "change_set_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_set_id: Mapped[int] = mapped_column(ForeignKey("change_sets.id"))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)


class ChangeSetComment(Base):
    """A review comment on a change set, or on one of its operations; replies form threads.

    ``operation_id`` has no foreign key: removing an operation from a draft keeps the
    discussion about it (shown as being on a removed operation).
    """

    __tablename__ = "change_set_comments"
    __table_args__ = (Index("ix_change_set_comments_change_set", "change_set_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    change_set_id: Mapped[int] = mapped_column(ForeignKey("change_sets.id"))
    operation_id: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("change_set_comments.id"))
    author: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
