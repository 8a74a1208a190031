"""Publishing a set whose plan changed since approval sends it back for review.

Each step runs in its own committed transaction, as every interface runs it: the refusal
rolls the publication back, and the send-back must survive that rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy.orm import Session

from registry.db import session_factory, transaction
from registry.services import change_sets, queries
from registry.services.plan_fingerprint import RULE, PlanChanged
from tests.conftest import Database
from tests.factories import APPROVER, STEWARD, d, draft, hanoi

T = TypeVar("T")
AU = "admin-units"


def _run(database: Database, work: Callable[[Session], T]) -> T:
    with transaction(session_factory(database.engine)) as session:
        return work(session)


def _approved(database: Database, ops: list[dict[str, Any]], effective: str) -> int:
    def make(session: Session) -> int:
        cs_id = draft(session, ops, effective)
        change_sets.submit(session, STEWARD, cs_id)
        change_sets.approve(session, APPROVER, cs_id)
        return cs_id
    return _run(database, make)


def _rename(code: str, name: str) -> list[dict[str, Any]]:
    return [{"op": "rename", "list": AU, "code": code, "name": name}]


def _name(database: Database, code: str, on: str) -> str:
    entry = _run(database, lambda s: queries.get_entry(s, AU, code, d(on)))
    return entry.name


def test_the_second_of_two_sets_on_one_entry_is_sent_back(database: Database) -> None:
    _run(database, hanoi)
    first = _approved(database, _rename("00001", "Phường Phúc Xá Một"), "2025-06-01")
    second = _approved(database, _rename("00001", "Phường Phúc Xá Hai"), "2025-06-01")
    _run(database, lambda s: change_sets.publish(s, APPROVER, first))
    with pytest.raises(PlanChanged) as refused:
        _run(database, lambda s: change_sets.publish(s, APPROVER, second))
    assert RULE in refused.value.message and str(second) in refused.value.message
    # Not silently overwritten: the first set's name stands.
    assert _name(database, "00001", "2025-06-02") == "Phường Phúc Xá Một"

    def state(session: Session) -> tuple[str, str | None, list[tuple[str, str | None]]]:
        cs = change_sets.get_change_set(session, second)
        return cs.status, cs.approved_plan, [(e.action, e.comment)
                                              for e in change_sets.events_of(session, second)]
    status, plan, events = _run(database, state)
    assert status == "submitted" and plan is None
    assert events[-1][0] == "send_back" and RULE in (events[-1][1] or "")
    # A second review, of the diff against the first set's name, and it publishes.
    _run(database, lambda s: change_sets.approve(s, APPROVER, second))
    _run(database, lambda s: change_sets.publish(s, APPROVER, second))
    assert _name(database, "00001", "2025-06-02") == "Phường Phúc Xá Hai"


def test_a_release_elsewhere_does_not_send_a_set_back(database: Database) -> None:
    _run(database, hanoi)
    other = _approved(database, _rename("00004", "Phường Trúc Bạch Mới"), "2025-06-01")
    mine = _approved(database, _rename("00001", "Phường Phúc Xá Mới"), "2025-06-01")
    _run(database, lambda s: change_sets.publish(s, APPROVER, other))
    _run(database, lambda s: change_sets.publish(s, APPROVER, mine))
    assert _name(database, "00001", "2025-06-02") == "Phường Phúc Xá Mới"


def test_a_later_version_of_the_entry_also_changes_the_plan(database: Database) -> None:
    """A release that adds a later version of the record changes what publishing would
    split, though the state on the effective date reads the same."""
    _run(database, hanoi)
    later = _approved(database, _rename("00001", "Phường Phúc Xá 2026"), "2026-01-01")
    mine = _approved(database, _rename("00001", "Phường Phúc Xá Mới"), "2025-06-01")
    _run(database, lambda s: change_sets.publish(s, APPROVER, later))
    with pytest.raises(PlanChanged):
        _run(database, lambda s: change_sets.publish(s, APPROVER, mine))
    status = _run(database, lambda s: change_sets.get_change_set(s, mine).status)
    assert status == "submitted"


def test_a_refused_publication_of_another_kind_sends_nothing_back(database: Database) -> None:
    """Only the plan rule sends a set back: a publication refused for another reason (here,
    the wrong version) leaves the set approved."""
    _run(database, hanoi)
    cs_id = _approved(database, _rename("00001", "Phường Phúc Xá Mới"), "2025-06-01")
    with pytest.raises(change_sets.Conflict):
        _run(database, lambda s: change_sets.publish(s, APPROVER, cs_id, expected_version=1))
    assert _run(database, lambda s: change_sets.get_change_set(s, cs_id).status) == "approved"
