"""Corrections of history: ``correct`` fixes the record in force on the effective date, even
when the entry has since ended, merged or split, and the rules are checked on that record's
interval only. A correction of the last state before an end also fixes the end record that
repeats it. What earlier releases said stays readable."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from registry.services import change_sets, code_lists, graph_reads, queries
from registry.services.actors import SYSTEM
from registry.services.integrity import check_invariants
from tests.factories import (
    d,
    draft,
    feed_records,
    hanoi,
    publish,
    publish_refused,
    unit,
)

AU = "admin-units"
REFORM = "2025-07-01"
# Districts are abolished on 2025-07-01: each ward is merged, split, retired or moved under
# the city, and both districts end that day, with the wards that do not continue.
REFORM_OPS: list[dict[str, Any]] = [
    {"op": "merge", "list": AU, "sources": ["00004", "00013"],
     "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường", "parent": "01"}},
    {"op": "split", "list": AU, "source": "00037", "targets": [
        {"code": "00040", "name": "Phường Hoàn Kiếm", "type": "Phường", "parent": "01",
         "default": True},
        {"code": "00043", "name": "Phường Cửa Nam", "type": "Phường", "parent": "01"}]},
    {"op": "retire", "list": AU, "code": "00001"},
    {"op": "retire", "list": AU, "code": "001"},
    {"op": "retire", "list": AU, "code": "002"},
]


def reformed(session: Session) -> int:
    """Hà Nội before and after its districts end; returns the reform's release."""
    hanoi(session)
    return publish(session, REFORM_OPS, REFORM, title="reform")


def fix(code: str, **fields: str | None) -> dict[str, Any]:
    """A ``correct`` operation on admin-units."""
    return {"op": "correct", "list": AU, "code": code, **fields}


def intervals(session: Session, code: str, list_key: str = AU) -> list[tuple[Any, ...]]:
    """The entry's current records: (valid_from, valid_to, status)."""
    return sorted((h.version.valid_from, h.version.valid_to, h.version.status)
                  for h in queries.history(session, list_key, code)
                  if h.version.superseded_release is None)


def name_on(session: Session, code: str, day: str, release: int | None = None) -> str:
    found = queries.get_entry(session, AU, code, d(day), at_release=release)
    assert found is not None
    return found.name


def errors_of(session: Session, ops: list[dict[str, Any]], effective: str,
              ) -> list[tuple[str, str]]:
    errors = publish_refused(session, ops, effective)
    assert all("\n" not in e.detail for e in errors)  # one line each
    return [(e.field, e.rule) for e in errors]


def test_the_name_of_a_merged_away_unit_is_corrected_before_its_end(session: Session) -> None:
    reform = reformed(session)
    before = intervals(session, "00013")
    fixed = publish(session, [fix("00013", name="Phường Quán Thánh (đã sửa)")], "2025-03-01")
    assert name_on(session, "00013", "2025-03-01") == "Phường Quán Thánh (đã sửa)"
    assert name_on(session, "00013", "2025-01-01") == "Phường Quán Thánh (đã sửa)"
    assert name_on(session, "00013", "2025-03-01", reform) == "Phường Quán Thánh"
    corrected = queries.get_entry(session, AU, "00013", d("2025-03-01"))
    assert corrected is not None and corrected.recorded_release == fixed
    assert (corrected.valid_from, corrected.valid_to) == (d("2025-01-01"), d(REFORM))
    assert intervals(session, "00013") == before  # no new state of the world
    # The record of its end repeated the misspelt name: it is corrected in the same release,
    # its interval, status and parent kept.
    ended = queries.get_entry(session, AU, "00013", d("2025-08-01"))
    assert ended is not None and (ended.status, ended.name, ended.parent) == (
        "retired", "Phường Quán Thánh (đã sửa)", "001")
    assert (ended.valid_from, ended.valid_to, ended.recorded_release) == (d(REFORM), None, fixed)
    assert name_on(session, "00013", REFORM, reform) == "Phường Quán Thánh"
    resolved = graph_reads.resolve(session, AU, "00013", d("2025-08-01"))
    assert resolved.status == "ended" and resolved.ended_on == d(REFORM)
    assert resolved.entry is not None and resolved.entry.name == "Phường Quán Thánh (đã sửa)"
    assert [s.entry.code for s in resolved.successors] == ["00004"]
    old = graph_reads.resolve(session, AU, "00013", d(REFORM), reform)  # as GraphQL reads
    assert old.entry is not None and old.entry.name == "Phường Quán Thánh"
    assert check_invariants(session) == []
    assert check_invariants(session, reform) == []


@pytest.mark.parametrize(("code", "what"), [("00001", "retired"), ("00037", "split"),
                                            ("001", "ended with children")])
def test_ended_retired_and_split_entries_are_corrected(session: Session, code: str,
                                                       what: str) -> None:
    reform = reformed(session)
    old = name_on(session, code, "2025-02-01")
    before = intervals(session, code)
    publish(session, [fix(code, name=f"{old} (sửa)", name_en="Corrected")], "2025-02-01")
    assert name_on(session, code, "2025-02-01") == f"{old} (sửa)", what
    assert name_on(session, code, "2025-02-01", reform) == old
    assert intervals(session, code) == before
    # The end record follows its last state, from this release on.
    ended = queries.get_entry(session, AU, code, d("2025-08-01"))
    assert ended is not None and ended.status == "retired"
    assert (ended.name, ended.name_en) == (f"{old} (sửa)", "Corrected"), what
    assert name_on(session, code, REFORM, reform) == old
    assert check_invariants(session) == []


def test_a_parent_valid_over_the_whole_interval_is_accepted(session: Session) -> None:
    reformed(session)
    # 002 ends on the day 00013 does: the corrected record is never orphaned.
    publish(session, [fix("00013", parent="002")], "2025-03-01")
    entry = queries.get_entry(session, AU, "00013", d("2025-01-01"))
    assert entry is not None and entry.parent == "002"
    assert (entry.valid_from, entry.valid_to) == (d("2025-01-01"), d(REFORM))
    under = queries.list_entries(session, AU, parent="002", as_of=d("2025-06-30")).items
    assert {e.code for e in under} == {"00013", "00037"}
    assert check_invariants(session) == []


def test_a_parent_that_ends_inside_the_interval_is_refused(session: Session) -> None:
    reformed(session)
    publish(session, [unit("003", "Quận Tây Hồ", "Quận", "01")], "2025-01-01")
    publish(session, [{"op": "retire", "list": AU, "code": "003"}], "2025-04-01")
    errors = publish_refused(session, [fix("00013", parent="003")], "2025-03-01")
    assert [(e.field, e.rule) for e in errors] == [("operations[0].parent", "parent_ends")]
    assert errors[0].detail == (
        "parent '003' ends on 2025-04-01, which would orphan '00013' "
        "(its record is valid from 2025-01-01 to 2025-07-01)")
    assert queries.get_entry(session, AU, "00013", d("2025-03-01")).parent == "001"  # type: ignore[union-attr]


def test_a_parent_that_begins_inside_the_interval_is_refused(session: Session) -> None:
    """Valid on the effective date is not enough: the record began before the parent."""
    reformed(session)
    publish(session, [unit("003", "Quận Tây Hồ", "Quận", "01")], "2025-02-01")
    assert errors_of(session, [fix("00013", parent="003")], "2025-03-01") == [
        ("operations[0].parent", "parent_missing")]


def test_a_parent_of_the_wrong_level_is_refused(session: Session) -> None:
    reformed(session)
    assert errors_of(session, [fix("00013", parent="00001")], "2025-03-01") == [
        ("operations[0].parent", "parent_level")]


def _org_chart(session: Session) -> None:
    """Units that may stand under one another, with no code patterns in the way."""
    code_lists.define_lists(session, SYSTEM, [{
        "key": "org-chart", "name": "Sơ đồ tổ chức", "code_pattern": "^[A-Z]$",
        "levels": [{"key": "board", "types": ["Ban"], "parents": ["board"],
                    "optional_parent": True},
                   {"key": "team", "types": ["Tổ"], "parents": ["board"],
                    "optional_parent": True}]}])
    publish(session, [{"op": "create", "list": "org-chart", "code": code, "name": code,
                       "type": "Ban"} for code in "ABC"])


def _org(op: str, code: str, **fields: str) -> dict[str, Any]:
    return {"op": op, "list": "org-chart", "code": code, **fields}


def test_a_cycle_inside_the_interval_is_refused(session: Session) -> None:
    """On the effective date A under B is no loop; from 2025-05-01, when B moves under A,
    it is one, and A's record runs on past that day."""
    _org_chart(session)
    publish(session, [_org("move", "B", parent="A")], "2025-05-01")
    errors = publish_refused(session, [_org("correct", "A", parent="B")], "2025-03-01")
    assert [(e.field, e.rule) for e in errors] == [("operations[0].parent", "cycle")]
    assert errors[0].detail == "the hierarchy would loop on 2025-05-01: A → B → A"


def test_a_loop_after_the_interval_is_no_cycle(session: Session) -> None:
    """A's corrected record ends on 2025-04-01, before B moves under A."""
    _org_chart(session)
    publish(session, [_org("rename", "A", name="A mới")], "2025-04-01")
    publish(session, [_org("move", "B", parent="A")], "2025-05-01")
    publish(session, [_org("correct", "A", parent="B")], "2025-03-01")
    assert check_invariants(session) == []


def test_a_corrected_type_must_fit_the_children_of_its_interval(session: Session) -> None:
    _org_chart(session)
    publish(session, [_org("rename", "A", name="A mới")], "2025-04-01")
    publish(session, [_org("move", "C", parent="A")], "2025-05-01")
    # Before 2025-04-01 A has no children: a team it may be.
    publish(session, [_org("correct", "A", type="Tổ")], "2025-03-01")
    # From 2025-04-01 it has one, C, a board, which may not stand under a team.
    errors = errors_of(session, [_org("correct", "A", type="Tổ")], "2025-06-01")
    assert errors == [("operations[0].type", "parent_level")]


def test_types_and_parents_that_break_the_list_rules_are_refused(session: Session) -> None:
    reformed(session)
    assert errors_of(session, [fix("00013", type="Quận")], "2025-03-01") == [
        ("operations[0].type", "code_pattern")]  # 00013 is no district code
    publish(session, [{"op": "create", "list": "agencies", "code": code, "name": name,
                       "type": type_} for code, name, type_ in [
        ("000.00.00.G01", "Bộ A", "Bộ"), ("000.00.00.G02", "Bộ B", "Bộ"),
        ("000.00.01.G01", "Cục A", "Đơn vị cấp 2")]])
    assert errors_of(session, [{"op": "correct", "list": "agencies", "code": "000.00.01.G01",
                                "parent": "000.00.00.G02"}], "2025-03-01") == [
        ("operations[0].parent", "parent_rule")]


def test_a_correction_and_an_end_of_its_parent_in_one_set(session: Session) -> None:
    """The parent is checked as the same change set leaves it: 001 ends on 2025-03-01,
    inside the corrected record of 00004."""
    hanoi(session)
    assert errors_of(session, [
        {"op": "move", "list": AU, "code": "00001", "parent": "002"},
        {"op": "move", "list": AU, "code": "00013", "parent": "002"},
        fix("00004", name="Phường Trúc Bạch (sửa)"),
        {"op": "retire", "list": AU, "code": "001"}], "2025-03-01") == [
        ("operations[2].parent", "parent_ends")]


def test_the_preview_is_what_publishing_writes(session: Session) -> None:
    reformed(session)
    cs_id = draft(session, [fix("00013", name="Phường Quán Thánh (sửa)", parent="002")],
                  "2025-03-01")
    diff = change_sets.preview(session, cs_id).diff()
    assert diff["errors"] == [] and diff["summary"] == {"correct": 1, "links": 0}
    [change] = diff["changes"]
    assert change["fields"] == ["name", "parent"]
    # The end record is listed too: it takes the name, not the parent.
    assert [(v["valid_from"], v["valid_to"], v["status"], v["name"], v["parent"])
            for v in change["versions"]] == [
        ("2025-01-01", REFORM, "active", "Phường Quán Thánh (sửa)", "002"),
        (REFORM, None, "retired", "Phường Quán Thánh (sửa)", "001")]
    release = change_sets.publish_direct(session, SYSTEM, cs_id)
    previewed = [{"code": c["code"], **v} for c in diff["changes"] for v in c["versions"]]
    written = [r for r in feed_records(session, release) if r["t"] == "version"]
    assert [{k: r[k] for k in previewed[0]} for r in written] == previewed
    assert [r["t"] for r in feed_records(session, release)] == ["version", "version", "release"]


def test_the_record_in_force_on_the_effective_date_is_the_one_corrected(
        session: Session) -> None:
    """The day before the end is inside the record; on the end date the record of the end
    is the one in force."""
    reform = reformed(session)
    publish(session, [fix("00013", name_en="Quan Thanh Ward")], "2025-06-30")
    last = queries.get_entry(session, AU, "00013", date(2025, 6, 30))
    assert last is not None and (last.name_en, last.status) == ("Quan Thanh Ward", "active")
    old = queries.get_entry(session, AU, "00013", date(2025, 6, 30), at_release=reform)
    assert old is not None and old.name_en is None
    follows = queries.get_entry(session, AU, "00013", d(REFORM))
    assert follows is not None and follows.name_en == "Quan Thanh Ward"
    publish(session, [fix("00013", name_en="Quan Thanh Ward (ended)")], REFORM)
    ended = queries.get_entry(session, AU, "00013", d(REFORM))
    assert ended is not None and (ended.name_en, ended.status) == (
        "Quan Thanh Ward (ended)", "retired")
    assert name_on(session, "00013", "2025-06-30") == "Phường Quán Thánh"
    assert check_invariants(session) == []


def test_an_end_record_that_says_something_else_keeps_it(session: Session) -> None:
    """Only a field the end record repeats from the corrected state follows the correction:
    a value recorded for the end on its own stays."""
    reformed(session)
    publish(session, [fix("00013", name_en="Quan Thanh (merged)")], REFORM)
    publish(session, [fix("00013", name="Phường Quán Thánh (sửa)", name_en="Quan Thanh",
                          short_name="Quán Thánh")], "2025-03-01")
    ended = queries.get_entry(session, AU, "00013", d(REFORM))
    assert ended is not None and (ended.name, ended.short_name, ended.name_en) == (
        "Phường Quán Thánh (sửa)", "Quán Thánh", "Quan Thanh (merged)")
    assert check_invariants(session) == []


def test_a_version_with_a_later_active_version_is_corrected_alone(session: Session) -> None:
    """00013 moves on 2025-04-01, keeping its name, and ends on 2025-07-01: the version
    before the move is not the last state, so neither the next one nor the end follows."""
    hanoi(session)
    publish(session, [{"op": "move", "list": AU, "code": "00013", "parent": "002"}],
            "2025-04-01")
    publish(session, REFORM_OPS, REFORM, title="reform")
    cs_id = draft(session, [fix("00013", name="Phường Quán Thánh (sửa)")], "2025-03-01")
    [change] = change_sets.preview(session, cs_id).diff()["changes"]
    assert [(v["valid_from"], v["valid_to"]) for v in change["versions"]] == [
        ("2025-01-01", "2025-04-01")]
    change_sets.publish_direct(session, SYSTEM, cs_id)
    assert name_on(session, "00013", "2025-03-01") == "Phường Quán Thánh (sửa)"
    assert name_on(session, "00013", "2025-05-01") == "Phường Quán Thánh"
    assert name_on(session, "00013", REFORM) == "Phường Quán Thánh"
    resolved = graph_reads.resolve(session, AU, "00013", d("2025-08-01"))
    assert resolved.entry is not None and resolved.entry.name == "Phường Quán Thánh"
    # Its last state is corrected, and the end with it.
    publish(session, [fix("00013", name="Phường Quán Thánh (sửa)")], "2025-05-01")
    assert name_on(session, "00013", REFORM) == "Phường Quán Thánh (sửa)"
    assert check_invariants(session) == []


def test_a_retired_agency_end_record_takes_the_corrected_type_and_attributes(
        session: Session) -> None:
    agency = "000.00.00.G01"

    def on(day: str, release: int | None = None) -> Any:
        found = queries.get_entry(session, "agencies", agency, d(day), at_release=release)
        assert found is not None
        return (found.status, found.type, found.level, found.attributes)

    publish(session, [{"op": "create", "list": "agencies", "code": agency, "name": "Bộ A",
                       "type": "Bộ", "attributes": {"address": "Số 1 phố A"}}])
    retired = publish(session, [{"op": "retire", "list": "agencies", "code": agency}],
                      REFORM)
    publish(session, [{"op": "correct", "list": "agencies", "code": agency,
                       "type": "Cơ quan ngang bộ",
                       "attributes": {"address": "Số 1 phố Á"}}], "2025-03-01")
    assert on("2025-03-01") == ("active", "Cơ quan ngang bộ", "level-1",
                                {"address": "Số 1 phố Á"})
    assert on(REFORM) == ("retired", "Cơ quan ngang bộ", "level-1", {"address": "Số 1 phố Á"})
    assert on(REFORM, retired) == ("retired", "Bộ", "level-1", {"address": "Số 1 phố A"})
    assert intervals(session, agency, "agencies") == [
        (d("2025-01-01"), d(REFORM), "active"), (d(REFORM), None, "retired")]
    assert check_invariants(session) == []
