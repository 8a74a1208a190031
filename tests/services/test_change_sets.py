"""The change-set workflow: states, four-eyes, list grants, optimistic versions, preview."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import Conflict, NotFound, PermissionDenied, ValidationError, ValidationErrors
from registry.models import FeedRecord, Release
from registry.services import change_sets, queries
from registry.services.actors import SYSTEM, Actor
from tests.factories import APPROVER, BASIS, STEWARD, d, draft, hanoi

AU = "admin-units"
RENAME = {"op": "rename", "list": AU, "code": "00004", "name": "Phường Ba Đình"}


def test_full_life_draft_submit_approve_publish(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [RENAME], "2025-07-01")
    assert change_sets.get_change_set(session, cs_id).status == "draft"
    change_sets.submit(session, STEWARD, cs_id)
    change_sets.approve(session, APPROVER, cs_id, comment="đúng nghị quyết")
    release = change_sets.publish(session, APPROVER, cs_id)
    cs = change_sets.get_change_set(session, cs_id)
    assert (cs.status, cs.release_id, cs.reviewer) == ("published", release, APPROVER.name)
    assert [e.action for e in change_sets.events_of(session, cs_id)] == [
        "create", "submit", "approve", "publish"]
    assert queries.get_entry(session, AU, "00004", d("2025-07-01")).name == "Phường Ba Đình"  # type: ignore[union-attr]
    row = session.get(Release, release)
    assert row is not None and row.change_set_id == cs_id and row.summary["change"] == 1


def test_the_author_never_approves_or_publishes(session: Session) -> None:
    hanoi(session)
    author = Actor("both-hats", "approver")
    cs_id = draft(session, [RENAME], "2025-07-01", actor=author)
    change_sets.submit(session, author, cs_id)
    with pytest.raises(PermissionDenied, match="second person"):
        change_sets.approve(session, author, cs_id)
    change_sets.approve(session, APPROVER, cs_id)
    with pytest.raises(PermissionDenied):
        change_sets.publish(session, author, cs_id)


def test_steward_outside_their_lists_is_refused(session: Session) -> None:
    cs_id = draft(session, [RENAME], "2025-07-01")
    with pytest.raises(PermissionDenied, match="agencies"):
        change_sets.add_operations(session, STEWARD, cs_id, [
            {"op": "create", "list": "agencies", "code": "000.00.00.G01", "name": "Bộ Công an",
             "type": "Bộ"}])


def test_readers_cannot_open_change_sets_and_stewards_cannot_approve(session: Session) -> None:
    with pytest.raises(PermissionDenied):
        draft(session, [RENAME], actor=Actor("r", "reader"))
    hanoi(session)
    cs_id = draft(session, [RENAME], "2025-07-01")
    change_sets.submit(session, STEWARD, cs_id)
    with pytest.raises(PermissionDenied):
        change_sets.approve(session, Actor("other-steward", "steward"), cs_id)


def test_reject_needs_a_reason_and_ends_the_review(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [RENAME], "2025-07-01")
    change_sets.submit(session, STEWARD, cs_id)
    with pytest.raises(ValidationError) as err:
        change_sets.reject(session, APPROVER, cs_id, "  ")
    assert err.value.field == "reason"
    change_sets.reject(session, APPROVER, cs_id, "thiếu số quyết định")
    cs = change_sets.get_change_set(session, cs_id)
    assert (cs.status, cs.comment) == ("rejected", "thiếu số quyết định")
    with pytest.raises(Conflict):
        change_sets.publish(session, APPROVER, cs_id)


def test_withdraw_by_the_author_only(session: Session) -> None:
    cs_id = draft(session, [RENAME], "2025-07-01")
    with pytest.raises(PermissionDenied):
        change_sets.withdraw(session, Actor("someone-else", "steward"), cs_id)
    change_sets.withdraw(session, STEWARD, cs_id)
    assert change_sets.get_change_set(session, cs_id).status == "withdrawn"
    with pytest.raises(Conflict):
        change_sets.add_operations(session, STEWARD, cs_id, [RENAME])


def test_optimistic_version_check(session: Session) -> None:
    cs_id = draft(session, [RENAME], "2025-07-01")
    seen = change_sets.get_change_set(session, cs_id).version
    change_sets.add_operations(session, STEWARD, cs_id, [
        {"op": "retire", "list": AU, "code": "00037"}], expected_version=seen)
    with pytest.raises(Conflict, match="reload"):
        change_sets.add_operations(session, STEWARD, cs_id, [RENAME], expected_version=seen)


def test_remove_operation(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [RENAME, {"op": "retire", "list": AU, "code": "00037"}],
                  "2025-07-01")
    ops = change_sets.operations_of(session, cs_id)
    change_sets.remove_operation(session, STEWARD, cs_id, ops[1].id)
    assert [o.op for o in change_sets.operations_of(session, cs_id)] == ["rename"]
    with pytest.raises(NotFound):
        change_sets.remove_operation(session, STEWARD, cs_id, ops[1].id)


def test_submit_refuses_an_invalid_set_and_an_empty_one(session: Session) -> None:
    hanoi(session)
    empty = change_sets.create_change_set(session, STEWARD, "trống", BASIS, d("2025-07-01"))
    with pytest.raises(ValidationError, match="operation"):
        change_sets.submit(session, STEWARD, empty.id)
    cs_id = draft(session, [{"op": "retire", "list": AU, "code": "001"}], "2025-07-01")
    with pytest.raises(ValidationErrors) as err:
        change_sets.submit(session, STEWARD, cs_id)
    assert {e.rule for e in err.value.errors} == {"orphan"}
    assert change_sets.get_change_set(session, cs_id).status == "draft"


def test_preview_is_exactly_what_publishing_writes(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [
        {"op": "merge", "list": AU, "sources": ["00004", "00013"],
         "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường",
                    "parent": "01"}},
        {"op": "move", "list": AU, "code": "00001", "parent": "01"},
        {"op": "retire", "list": AU, "code": "001"},
    ], "2025-07-01")
    diff = change_sets.preview(session, cs_id).diff()
    assert diff["errors"] == []
    assert diff["summary"] == {"change": 2, "retire": 2, "links": 1}
    change_sets.submit(session, STEWARD, cs_id)
    change_sets.approve(session, APPROVER, cs_id)
    release = change_sets.publish(session, APPROVER, cs_id)
    records = [json.loads(r) for r in session.scalars(
        select(FeedRecord.record).where(FeedRecord.release_id == release)
        .order_by(FeedRecord.seq))]
    new_states = {(r["code"], r["valid_from"]): r for r in records if r["t"] == "version"}
    for change in diff["changes"]:
        written = new_states[(change["code"], "2025-07-01")]
        assert {k: written[k] for k in change["after"]} == change["after"]
    links = [(r["from"], r["to"], r["kind"], r["default"]) for r in records if r["t"] == "link"]
    assert links == [(lk["from"], lk["to"], lk["kind"], lk["default"]) for lk in diff["links"]]


def test_preview_reports_problems_without_raising(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [{"op": "rename", "list": AU, "code": "99999", "name": "X"}],
                  "2025-07-01")
    diff = change_sets.preview(session, cs_id).diff()
    assert diff["errors"] == [{"field": "operations[0].code", "rule": "not_active",
                               "message": "'99999' does not exist in 'admin-units' on 2025-07-01"}]


def test_publish_direct_is_for_the_administrator_only(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [RENAME], "2025-07-01")
    with pytest.raises(PermissionDenied):
        change_sets.publish_direct(session, APPROVER, cs_id)
    release = change_sets.publish_direct(session, SYSTEM, cs_id)
    assert release == queries.latest_release(session)
    before = session.scalar(select(func.count(FeedRecord.seq)))
    with pytest.raises(Conflict):
        change_sets.publish_direct(session, SYSTEM, cs_id)
    assert session.scalar(select(func.count(FeedRecord.seq))) == before


def test_unknown_change_set_and_bad_status_filter(session: Session) -> None:
    with pytest.raises(NotFound):
        change_sets.get_change_set(session, 424242)
    with pytest.raises(ValidationError):
        change_sets.list_change_sets(session, "pending")
