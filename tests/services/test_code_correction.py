"""Correcting a wrongly published code: the whole history moves to the right code from the
next release on, the wrong code leads to it, and what earlier releases said stays readable."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry.errors import ValidationError, ValidationErrors
from registry.services import change_sets, graph_reads, queries
from registry.services.actors import SYSTEM
from registry.services.integrity import check_invariants
from tests.factories import d, draft, hanoi, publish

AU = "admin-units"
RENAME = {"op": "rename", "list": AU, "code": "001", "name": "Quận Ba Đình (mới)"}


def _fix(code: str, new_code: str, **fields: str) -> dict[str, str]:
    return {"op": "correct", "list": AU, "code": code, "new_code": new_code, **fields}


def test_a_corrected_code_carries_the_whole_history(session: Session) -> None:
    first = hanoi(session)
    renamed = publish(session, [RENAME], "2025-03-01")
    fixed = publish(session, [_fix("001", "009")], "2025-03-01")
    # As of any date, at the latest release, the entry is 009 with 001's two versions.
    early, late = (queries.get_entry(session, AU, "009", d(day)) for day in
                   ("2025-01-01", "2025-06-01"))
    assert early is not None and late is not None
    assert (early.name, early.valid_from, early.valid_to) == (
        "Quận Ba Đình", d("2025-01-01"), d("2025-03-01"))
    assert (late.name, late.valid_from, late.valid_to, late.status) == (
        "Quận Ba Đình (mới)", d("2025-03-01"), None, "active")
    assert late.recorded_release == fixed
    # The wrong code is recorded as ended where it began, and resolves to the right one.
    wrong = queries.get_entry(session, AU, "001", d("2025-06-01"))
    assert wrong is not None and wrong.status == "retired"
    assert (wrong.valid_from, wrong.valid_to) == (d("2025-01-01"), None)  # one ended version
    resolution = graph_reads.resolve(session, AU, "001", d("2025-01-15"))
    assert resolution.status == "ended" and resolution.ended_on == d("2025-01-01")
    assert [(s.entry.code, s.is_default) for s in resolution.successors] == [("009", True)]
    # Children follow, on every date; no orphans anywhere.
    ward = queries.get_entry(session, AU, "00004", d("2025-06-01"))
    assert ward is not None and ward.parent == "009"
    assert {c.code for c in queries.list_entries(session, AU, parent="009",
                                                 as_of=d("2025-01-01")).items} == {
        "00001", "00004", "00013"}
    assert check_invariants(session) == []
    # Earlier releases still say 001.
    before = queries.get_entry(session, AU, "001", d("2025-06-01"), at_release=renamed)
    assert before is not None and before.status == "active"
    assert queries.get_entry(session, AU, "009", d("2025-06-01"), at_release=renamed) is None
    child_then = queries.get_entry(session, AU, "00004", d("2025-01-01"), at_release=first)
    assert child_then is not None and child_then.parent == "001"


def test_other_fields_are_corrected_with_the_code(session: Session) -> None:
    hanoi(session)
    publish(session, [_fix("00013", "00014", name="Phường Quán Thánh (sửa)")], "2025-01-01")
    entry = queries.get_entry(session, AU, "00014", d("2025-02-01"))
    assert entry is not None and entry.name == "Phường Quán Thánh (sửa)"
    assert entry.parent == "001" and entry.valid_from == d("2025-01-01")


def test_the_preview_shows_every_record_it_writes(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [_fix("001", "009")], "2025-01-01")
    diff = change_sets.preview(session, cs_id).diff()
    assert diff["errors"] == []
    kinds = {(c["code"], c["kind"]) for c in diff["changes"]}
    assert kinds == {("001", "correct"), ("009", "create"), ("00001", "correct"),
                     ("00004", "correct"), ("00013", "correct")}
    assert [(lk["from"], lk["to"], lk["default"]) for lk in diff["links"]] == [
        ("001", "009", True)]
    child = next(c for c in diff["changes"] if c["code"] == "00004")
    assert child["fields"] == ["parent"] and child["after"]["parent"] == "009"
    # Every record the publication writes is in the preview, with its interval.
    moved = next(c for c in diff["changes"] if c["code"] == "009")
    assert [(v["valid_from"], v["valid_to"], v["status"]) for v in moved["versions"]] == [
        ("2025-01-01", None, "active")]
    assert [v["parent"] for v in child["versions"]] == ["009"]


@pytest.mark.parametrize(("op", "field", "rule"), [
    (_fix("001", "00002"), "operations[0].new_code", "code_pattern"),  # a commune code
    (_fix("001", "002"), "operations[0].new_code", "exists"),
    (_fix("001", "001"), "operations[0].new_code", "different"),
    (_fix("999", "998"), "operations[0].code", "not_found"),
])
def test_refused_code_corrections(session: Session, op: dict[str, str], field: str,
                                  rule: str) -> None:
    hanoi(session)
    # Shape errors stop at the operation (one error); the planner reports all it finds.
    with pytest.raises((ValidationError, ValidationErrors)) as caught:
        publish(session, [op], "2025-01-01")
    error = caught.value if isinstance(caught.value, ValidationError) else caught.value.errors[0]
    assert (error.field, error.rule) == (field, rule)
    assert queries.get_entry(session, AU, "001", d("2025-01-01")) is not None


MERGE_CHILDREN = {"op": "merge", "list": AU, "sources": ["00004", "00013"],
                  "target": {"code": "00007", "name": "Phường Mới", "type": "Phường",
                             "parent": "009"}}
MERGE_WRONG = {"op": "merge", "list": AU, "sources": [{"code": "00004", "kind": "part"}],
               "target": {"code": "00007", "name": "Phường Mới", "type": "Phường",
                          "parent": "001"}}


@pytest.mark.parametrize("ops", [
    [_fix("001", "009"), {"op": "rename", "list": AU, "code": "009", "name": "Quận X"}],
    [{"op": "rename", "list": AU, "code": "00004", "name": "Phường Y"}, _fix("001", "009")],
    [_fix("001", "009"), MERGE_CHILDREN],  # a child it re-points, ended by a later operation
    [MERGE_WRONG, _fix("00004", "00005")],  # the wrong code restructured in the same set
], ids=["new code renamed", "child renamed first", "child merged later", "code merged"])
def test_a_corrected_code_is_alone_in_its_change_set(session: Session,
                                                      ops: list[dict[str, object]]) -> None:
    hanoi(session)
    with pytest.raises(ValidationErrors) as caught:
        publish(session, ops, "2025-01-01")
    rules = {e.rule for e in caught.value.errors}
    assert "correct_alone" in rules, caught.value.errors
    assert all(e.field.startswith("operations[") for e in caught.value.errors)


def test_an_ended_code_or_one_with_successors_is_not_corrected(session: Session) -> None:
    """Its end and its successors were decided under that code: not a mere correction."""
    hanoi(session)
    publish(session, [{"op": "merge", "list": AU, "sources": ["00001", "00004"],
                       "target": {"code": "00001", "name": "Phường Phúc Xá", "type": "Phường",
                                  "parent": "001"}}], "2025-03-01")
    for code in ("00004", "00001"):  # ended; continued but now with a predecessor only
        errors = []
        try:
            publish(session, [_fix(code, "00005")], "2025-02-01")
        except ValidationErrors as exc:
            errors = [(e.field, e.rule) for e in exc.errors]
        if code == "00004":
            assert errors == [("operations[0].code", "ended")]
        else:  # incoming links stay: they lead to the wrong code, which leads on
            assert errors == []
            resolved = graph_reads.resolve(session, AU, "00004", d("2025-06-01"))
            assert [s.entry.code for s in resolved.successors] == ["00005"]


def test_references_from_other_lists_follow_the_corrected_code(session: Session) -> None:
    hanoi(session)
    publish(session, [
        {"op": "create", "list": "agencies", "code": "000.00.00.H26", "name": "UBND Hà Nội",
         "type": "UBND tỉnh", "attributes": {"admin_unit": "01", "address": "001"}},
        {"op": "create", "list": "agencies", "code": "000.00.00.H27", "name": "UBND quận",
         "type": "UBND tỉnh", "attributes": {"admin_unit": "001"}},
    ], "2025-01-01")
    cs_id = draft(session, [_fix("001", "009")], "2025-02-01")
    diff = change_sets.preview(session, cs_id).diff()
    agency = next(c for c in diff["changes"] if c["list"] == "agencies")
    assert (agency["code"], agency["fields"]) == ("000.00.00.H27", ["attributes"])
    change_sets.publish_direct(session, SYSTEM, cs_id)
    moved = queries.get_entry(session, "agencies", "000.00.00.H27", d("2025-01-01"))
    assert moved is not None and moved.attributes == {"admin_unit": "009"}
    # Only a reference moves: "001" in another attribute matches the text, not the ref.
    kept = queries.get_entry(session, "agencies", "000.00.00.H26", d("2025-01-01"))
    assert kept is not None and kept.attributes == {"admin_unit": "01", "address": "001"}
    assert check_invariants(session) == []
