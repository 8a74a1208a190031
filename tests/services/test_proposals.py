"""Proposals from localities: a proposer's scope is a rule of the change-set service, and
central stewards comment, ask for changes, adopt (issue: both directions between the centre
and the localities)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import Conflict, NotFound, PermissionDenied, ValidationError
from registry.errors import ValidationErrors as Problems
from registry.models import ChangeSetEvent, WebhookEvent
from registry.services import change_sets, comments, tokens
from registry.services.actors import SYSTEM, Actor
from tests.factories import APPROVER, BASIS, STEWARD, d, hanoi, publish, unit

HANOI = Actor("hn-proposer", "proposer", scope="admin-units:01")
AGENCY_LIST = Actor("bo-noi-vu", "proposer", scope="agencies")


def _setup(session: Session) -> None:
    hanoi(session)
    publish(session, [unit("02", "Tỉnh Hà Giang", "Tỉnh"),
                      unit("024", "Huyện Đồng Văn", "Huyện", "02"),
                      unit("00712", "Thị trấn Phó Bảng", "Thị trấn", "024")])


def _draft(session: Session, actor: Actor = HANOI) -> int:
    return change_sets.create_change_set(session, actor, "Đề xuất", BASIS, d("2025-07-01")).id


def _refused(session: Session, cs: int, ops: list[dict[str, Any]],
             actor: Actor = HANOI) -> list[ValidationError]:
    with pytest.raises(Problems) as caught:
        change_sets.add_operations(session, actor, cs, ops)
    return caught.value.errors


RENAME_IN = {"op": "rename", "list": "admin-units", "code": "00004", "name": "Phường Trúc Bạch Mới"}


def test_a_proposer_proposes_inside_its_province(session: Session) -> None:
    _setup(session)
    cs = _draft(session)
    change_sets.add_operations(session, HANOI, cs, [
        RENAME_IN,
        unit("00046", "Phường Mới", "Phường", "001"),
        {"op": "move", "list": "admin-units", "code": "00004", "parent": "002"},
        {"op": "merge", "list": "admin-units", "sources": ["00001", "00013"],
         "target": unit("00013", "Phường Quán Thánh", "Phường", "001")},
    ])
    submitted = change_sets.submit(session, HANOI, cs)
    assert submitted.status == "submitted" and submitted.proposal_scope == "admin-units:01"
    # It cannot review its own proposal, nor anyone's.
    with pytest.raises(PermissionDenied):
        change_sets.approve(session, HANOI, cs)
    approved = change_sets.approve(session, APPROVER, cs)
    assert change_sets.publish(session, APPROVER, approved.id) > 0


def test_every_operation_outside_the_scope_is_named(session: Session) -> None:
    _setup(session)
    cs = _draft(session)
    errors = _refused(session, cs, [
        RENAME_IN,
        {"op": "rename", "list": "admin-units", "code": "00712", "name": "Thị trấn X"},
        unit("025", "Huyện Mới", "Huyện", "02"),
        {"op": "move", "list": "admin-units", "code": "00004", "parent": "024"},
        unit("03", "Tỉnh Mới", "Tỉnh"),
        {"op": "rename", "list": "procedures", "code": "1.000001", "name": "Thủ tục"},
    ])
    assert [(e.field, e.rule) for e in errors] == [
        (f"operations[{i}]", "scope") for i in (1, 2, 3, 4, 5)]
    assert errors[0].detail == ("'rename' touches '00712', which is not within "
                                "admin-units:01 on 2025-07-01")
    assert "'024'" in errors[2].detail  # the move's new parent, outside
    assert "procedures" in errors[4].detail
    # Nothing was added: the set is still empty.
    assert change_sets.operations_of(session, cs) == []


def test_a_unit_that_left_the_province_is_refused_at_submission(session: Session) -> None:
    _setup(session)
    cs = _draft(session)
    change_sets.add_operations(session, HANOI, cs, [RENAME_IN])
    # The centre moves 00004's district to Hà Giang before the proposal is submitted.
    publish(session, [{"op": "move", "list": "admin-units", "code": "001", "parent": "02"}],
            "2025-06-01")
    with pytest.raises(Problems) as caught:
        change_sets.submit(session, HANOI, cs)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("operations[0]", "scope")]


def test_a_list_scope_and_agencies_of_a_province(session: Session) -> None:
    _setup(session)
    agency = {"op": "create", "list": "agencies", "code": "H01.01", "name": "Sở Nội vụ",
              "type": "Sở", "attributes": {"admin_unit": "01"}}
    elsewhere = {**agency, "code": "H02.01", "attributes": {"admin_unit": "00712"}}
    cs = _draft(session)
    errors = _refused(session, cs, [agency, elsewhere])
    assert [e.field for e in errors] == ["operations[1]"]
    assert "admin_unit '00712' is not within admin-units:01" in errors[0].detail
    listed = _draft(session, AGENCY_LIST)
    errors = _refused(session, listed, [agency, RENAME_IN], AGENCY_LIST)
    assert [e.field for e in errors] == ["operations[1]"]
    assert errors[0].detail == ("'rename' is on the list 'admin-units'; bo-noi-vu proposes "
                                "changes to 'agencies' only")


def test_a_proposer_token_needs_a_scope_that_exists(session: Session) -> None:
    _setup(session)
    made = tokens.create_token(session, SYSTEM, "tinh-02", "proposer", scope="02")
    assert made.scope == "admin-units:02"
    assert tokens.authenticate(session, made.secret) == Actor("tinh-02", "proposer",
                                                              scope="admin-units:02")
    assert tokens.create_token(session, SYSTEM, "bo", "proposer",
                               scope="agencies").scope == "agencies"
    for kwargs, field, rule in (({}, "scope", "required"),
                                ({"scope": "99"}, "scope", "not_found"),
                                ({"scope": "nope:1"}, "scope", "pattern"),
                                ({"scope": "02", "lists": ["agencies"]}, "lists", "proposer")):
        with pytest.raises(ValidationError) as caught:
            tokens.create_token(session, SYSTEM, "x", "proposer", **kwargs)  # type: ignore[arg-type]
        assert (caught.value.field, caught.value.rule) == (field, rule)
    with pytest.raises(ValidationError) as caught:
        tokens.create_token(session, SYSTEM, "y", "steward", scope="02")
    assert (caught.value.field, caught.value.rule) == ("scope", "role")


def test_request_changes_comments_and_amend(session: Session) -> None:
    _setup(session)
    cs = _draft(session)
    [op] = change_sets.add_operations(session, HANOI, cs, [RENAME_IN])
    change_sets.submit(session, HANOI, cs)
    on_op = comments.add_comment(session, STEWARD, cs, "Tên theo Nghị quyết là gì?",
                                 operation_id=op)
    comments.add_comment(session, HANOI, cs, "Phường Trúc Bạch Mới, điều 2.", reply_to=on_op.id)
    back = change_sets.request_changes(session, STEWARD, cs, "Ghi rõ số nghị quyết.")
    assert back.status == "draft"
    # The proposer amends its draft and submits again; the thread is kept.
    change_sets.add_operations(session, HANOI, cs, [unit("00046", "Phường Mới", "Phường",
                                                         "001")])
    change_sets.submit(session, HANOI, cs)
    threads = comments.by_operation(comments.threads_of(session, cs))
    assert [t.comment.body for t in threads[op]] == ["Tên theo Nghị quyết là gì?"]
    assert [r.comment.body for r in threads[op][0].replies] == ["Phường Trúc Bạch Mới, điều 2."]
    assert [t.comment.body for t in threads[None]] == ["Ghi rõ số nghị quyết."]
    actions = list(session.scalars(select(ChangeSetEvent.action)
                                   .where(ChangeSetEvent.change_set_id == cs)
                                   .order_by(ChangeSetEvent.id)))
    assert actions == ["create", "submit", "request_changes", "submit"]
    statuses = [e.payload["status"] for e in session.scalars(
        select(WebhookEvent).where(WebhookEvent.change_set_id == cs).order_by(WebhookEvent.id))]
    assert statuses == ["draft", "submitted", "draft", "submitted"]
    assert [c.id for c in change_sets.list_change_sets(session, mine="hn-proposer")] == [cs]


def test_who_may_comment_and_what_is_refused(session: Session) -> None:
    _setup(session)
    cs = _draft(session)
    [op] = change_sets.add_operations(session, HANOI, cs, [RENAME_IN])
    other = Actor("tinh-02", "proposer", scope="admin-units:02")
    with pytest.raises(PermissionDenied):
        comments.add_comment(session, other, cs, "xin chào")
    with pytest.raises(PermissionDenied):
        comments.add_comment(session, Actor("r", "reader"), cs, "xin chào")
    with pytest.raises(ValidationError) as caught:
        comments.add_comment(session, STEWARD, cs, "   ")
    assert (caught.value.field, caught.value.rule) == ("body", "required")
    with pytest.raises(ValidationError) as caught:
        comments.add_comment(session, STEWARD, cs, "x" * 4001)
    assert caught.value.rule == "max_length"
    with pytest.raises(NotFound):
        comments.add_comment(session, STEWARD, cs, "x", operation_id=op + 1000)
    with pytest.raises(NotFound):
        comments.add_comment(session, STEWARD, cs, "x", reply_to=999)
    # Asking for changes needs a submitted set and a comment; the author cannot.
    with pytest.raises(Conflict):
        change_sets.request_changes(session, STEWARD, cs, "sửa")
    change_sets.submit(session, HANOI, cs)
    with pytest.raises(ValidationError):
        change_sets.request_changes(session, STEWARD, cs, " ")
    with pytest.raises(PermissionDenied):
        change_sets.request_changes(session, other, cs, "sửa")


def test_a_central_steward_adopts_a_proposal(session: Session) -> None:
    _setup(session)
    cs = _draft(session)
    change_sets.add_operations(session, HANOI, cs, [RENAME_IN])
    change_sets.submit(session, HANOI, cs)
    adopted = change_sets.adopt(session, STEWARD, cs)
    assert (adopted.author, adopted.proposed_by, adopted.status) == (
        "steward-a", "hn-proposer", "draft")
    # The steward amends it beyond the province, submits; an approver publishes.
    change_sets.add_operations(session, STEWARD, cs, [
        {"op": "rename", "list": "admin-units", "code": "00712", "name": "Thị trấn Phó Bảng Mới"}])
    change_sets.submit(session, STEWARD, cs)
    change_sets.approve(session, APPROVER, cs)
    release = change_sets.publish(session, APPROVER, cs)
    mine = change_sets.list_change_sets(session, mine="hn-proposer")
    assert [(c.id, c.status, c.release_id) for c in mine] == [(cs, "published", release)]
    # The proposer still takes part in the thread; adopting twice is refused.
    comments.add_comment(session, HANOI, cs, "Cảm ơn.")
    with pytest.raises(Conflict):
        change_sets.adopt(session, STEWARD, cs)
    assert [c.id for c in change_sets.list_change_sets(session, proposals=True)] == [cs]
