"""Factory functions for test data, all through the service layer."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import ValidationError, ValidationErrors
from registry.models import EntryVersion, FeedRecord
from registry.services import change_sets, feed
from registry.services.actors import SYSTEM, Actor
from registry.services.change_sets import LegalBasis

BASIS = LegalBasis(number="1/2025/TEST", date=date(2025, 1, 1), issuer="Test issuer")
STEWARD = Actor("steward-a", "steward", frozenset({"admin-units"}))
APPROVER = Actor("approver-b", "approver")


def d(text: str) -> date:
    """A date from ISO text."""
    return date.fromisoformat(text)


def draft(session: Session, ops: list[dict[str, Any]], effective: str = "2025-01-01",
          actor: Actor = STEWARD, title: str = "test change") -> int:
    """A draft change set with ``ops``; returns its id."""
    cs = change_sets.create_change_set(session, actor, title, BASIS, d(effective))
    change_sets.add_operations(session, actor, cs.id, ops)
    return cs.id


def publish(session: Session, ops: list[dict[str, Any]], effective: str = "2025-01-01",
            title: str = "test change") -> int:
    """Publish ``ops`` at once as the administrator; returns the release."""
    cs_id = draft(session, ops, effective, SYSTEM, title)
    return change_sets.publish_direct(session, SYSTEM, cs_id)


def unit(code: str, name: str, type_: str, parent: str | None = None) -> dict[str, Any]:
    """A ``create`` operation on admin-units."""
    op: dict[str, Any] = {"op": "create", "list": "admin-units", "code": code, "name": name,
                          "type": type_}
    if parent:
        op["parent"] = parent
    return op


def hanoi(session: Session) -> int:
    """A small pre-reform Hà Nội: province 01, district 001, wards 00001/00004/00013."""
    return publish(session, [
        unit("01", "Thành phố Hà Nội", "Thành phố Trung ương"),
        unit("001", "Quận Ba Đình", "Quận", "01"),
        unit("00001", "Phường Phúc Xá", "Phường", "001"),
        unit("00004", "Phường Trúc Bạch", "Phường", "001"),
        unit("00013", "Phường Quán Thánh", "Phường", "001"),
        unit("002", "Quận Hoàn Kiếm", "Quận", "01"),
        unit("00037", "Phường Phúc Tân", "Phường", "002"),
    ])


def keep_give_split(parent: str = "001") -> list[dict[str, Any]]:
    """A reform of :func:`hanoi`: 00004 keeps its code as Phường Ba Đình (00013 joins it)
    and gives part of its area to the new 00040 (with all of 00001); 00037 is divided
    between 00038 (default) and 00039. Every kind of resolve answer, in three operations."""
    def ward(code: str, name: str, under: str) -> dict[str, Any]:
        return {"code": code, "name": name, "type": "Phường", "parent": under}

    return [
        {"op": "merge", "list": "admin-units", "sources": ["00004", "00013"],
         "target": ward("00004", "Phường Ba Đình", parent)},
        {"op": "merge", "list": "admin-units",
         "sources": [{"code": "00004", "kind": "part", "share": 0.2}, "00001"],
         "target": ward("00040", "Phường Ngọc Hà", parent)},
        {"op": "split", "list": "admin-units", "source": "00037", "targets": [
            {**ward("00038", "Phường A", "002"), "default": True, "share": 0.6},
            {**ward("00039", "Phường B", "002"), "share": 0.4}]},
    ]


def feed_records(session: Session, release: int) -> list[dict[str, Any]]:
    """The feed records one release wrote, in sequence order."""
    return [json.loads(r) for r in session.scalars(
        select(FeedRecord.record).where(FeedRecord.release_id == release)
        .order_by(FeedRecord.seq))]


def publish_refused(session: Session, ops: list[dict[str, Any]],
                    effective: str = "2025-01-01") -> list[ValidationError]:
    """Publish ``ops`` expecting a refusal; check that nothing was written; return the errors."""
    versions = session.scalar(select(func.count(EntryVersion.id)))
    records = session.scalar(select(func.count(FeedRecord.seq)))
    head = feed.read_head(session)
    with pytest.raises(ValidationErrors) as caught, session.begin_nested():
        publish(session, ops, effective)
    assert session.scalar(select(func.count(EntryVersion.id))) == versions
    assert session.scalar(select(func.count(FeedRecord.seq))) == records
    assert feed.read_head(session) == head
    return caught.value.errors
