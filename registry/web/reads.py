"""Reads the pages need that the query service does not offer as such.

Read-only selects: every write still goes through :mod:`registry.services`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.models import ChangeSet, CodeList, EntryVersion, Release

V = EntryVersion


@dataclass(frozen=True)
class ReleaseRow:
    """A release with the change set it published (``None`` for list definitions)."""

    id: int
    published_at: Any
    published_by: str
    note: str
    summary: dict[str, Any]
    change_set_id: int | None
    title: str | None
    legal_number: str | None
    effective_date: date | None


def releases(session: Session, before: int | None = None, limit: int = 50) -> list[ReleaseRow]:
    """Releases newest first, each with its change set; ``before`` pages back."""
    query = (select(Release.id, Release.published_at, Release.published_by, Release.note,
                    Release.summary, Release.change_set_id, ChangeSet.title,
                    ChangeSet.legal_number, ChangeSet.effective_date)
             .outerjoin(ChangeSet, ChangeSet.id == Release.change_set_id)
             .order_by(Release.id.desc()).limit(limit))
    if before is not None:
        query = query.where(Release.id < before)
    return [ReleaseRow(*row) for row in session.execute(query)]


@dataclass(frozen=True)
class Label:
    """How to name a code that may have ended: its last recorded name and status."""

    code: str
    name: str
    status: str
    valid_from: date


def labels(session: Session, list_key: str, codes: Sequence[str]) -> dict[str, Label]:
    """The latest version (by valid time, current records) of each code, ended or not."""
    if not codes:
        return {}
    rows = session.execute(
        select(V.code, V.name, V.status, V.valid_from)
        .join(CodeList, CodeList.id == V.list_id)
        .where(CodeList.key == list_key, V.code.in_(list(codes)), V.superseded_release.is_(None))
        .order_by(V.code, V.valid_from))
    found: dict[str, Label] = {}
    for code, name, status, valid_from in rows:
        found[code] = Label(code, name, status, valid_from)  # later rows win: the newest
    return found


@dataclass(frozen=True)
class Child:
    """A child entry as the entry page lists it."""

    code: str
    name: str


def children(session: Session, list_key: str, code: str, day: date,
             limit: int) -> tuple[list[Child], bool]:
    """Active children of ``code`` on ``day``, by code: the first ``limit``, and whether more.

    Selected through the parent index and sorted here: asked for ``ORDER BY code LIMIT n``,
    SQLite without statistics walks the whole list in code order instead, which costs
    tens of milliseconds on the national list (a province has at most a few hundred
    children, so sorting them here is cheap).
    """
    rows = session.execute(
        select(V.code, V.name).join(CodeList, CodeList.id == V.list_id)
        .where(CodeList.key == list_key, V.parent_code == code,
               V.superseded_release.is_(None), V.status == "active", V.valid_from <= day,
               or_(V.valid_to.is_(None), V.valid_to > day))).all()
    found = sorted((Child(c, n) for c, n in rows), key=lambda child: child.code)
    return found[:limit], len(found) > limit
