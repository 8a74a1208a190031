"""Every operation, with the versions and lineage it records."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry.errors import ValidationErrors
from registry.services import graph_reads, queries
from registry.services.integrity import check_invariants
from tests.factories import d, hanoi, publish

AU = "admin-units"


def get(session: Session, code: str, on: str) -> queries.EntryView | None:
    return queries.get_entry(session, AU, code, d(on))


def test_create_records_a_version_from_the_effective_date(session: Session) -> None:
    hanoi(session)
    ward = get(session, "00004", "2025-01-01")
    assert ward is not None
    assert (ward.name, ward.type, ward.level, ward.parent) == (
        "Phường Trúc Bạch", "Phường", "commune", "001")
    assert get(session, "00004", "2024-12-31") is None
    assert check_invariants(session) == []


def test_rename_splits_the_version_at_the_effective_date(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "rename", "list": AU, "code": "00004", "name": "Phường Ba Đình",
                       "short_name": "Ba Đình"}], "2025-07-01")
    before, after = get(session, "00004", "2025-06-30"), get(session, "00004", "2025-07-01")
    assert before is not None and after is not None
    assert before.name == "Phường Trúc Bạch" and before.valid_to == d("2025-07-01")
    assert after.name == "Phường Ba Đình" and after.short_name == "Ba Đình"
    assert after.valid_from == d("2025-07-01") and after.valid_to is None


def test_move_changes_the_parent(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "move", "list": AU, "code": "00004", "parent": "002"}], "2025-03-01")
    assert get(session, "00004", "2025-03-01").parent == "002"  # type: ignore[union-attr]
    assert get(session, "00004", "2025-02-28").parent == "001"  # type: ignore[union-attr]


def test_reclassify_changes_type_and_checks_level(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "reclassify", "list": AU, "code": "00004", "type": "Xã"}],
            "2025-03-01")
    assert get(session, "00004", "2025-03-01").type == "Xã"  # type: ignore[union-attr]
    with pytest.raises(ValidationErrors) as err:
        publish(session, [{"op": "reclassify", "list": AU, "code": "00001", "type": "Quận"}],
                "2025-03-01")
    assert err.value.errors[0].rule == "parent_level"


def test_update_merges_attributes_and_null_removes(session: Session) -> None:
    publish(session, [{"op": "create", "list": "agencies", "code": "000.00.00.G01",
                       "name": "Bộ Công an", "type": "Bộ",
                       "attributes": {"website": "https://bocongan.gov.vn", "phone": "069"}}])
    publish(session, [{"op": "update", "list": "agencies", "code": "000.00.00.G01",
                       "attributes": {"phone": None, "email": "a@b.vn"}}], "2025-02-01")
    now = queries.get_entry(session, "agencies", "000.00.00.G01", d("2025-02-01"))
    assert now is not None
    assert now.attributes == {"website": "https://bocongan.gov.vn", "email": "a@b.vn"}


def test_retire_ends_the_entry_and_keeps_history(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "retire", "list": AU, "code": "00037"}], "2025-07-01")
    ended = get(session, "00037", "2025-07-01")
    assert ended is not None and ended.status == "retired"
    page = queries.list_entries(session, AU, parent="002", as_of=d("2025-07-01"))
    assert [e.code for e in page.items] == []
    assert get(session, "00037", "2025-06-30").status == "active"  # type: ignore[union-attr]


def test_correct_keeps_the_interval_and_the_old_answer_at_the_old_release(
        session: Session) -> None:
    first = hanoi(session)
    fixed = publish(session, [{"op": "correct", "list": AU, "code": "00013",
                               "name": "Phường Quán Thánh (sửa)"}], "2025-03-01")
    now = get(session, "00013", "2025-03-01")
    assert now is not None and now.name == "Phường Quán Thánh (sửa)"
    assert now.valid_from == d("2025-01-01") and now.recorded_release == fixed
    old = queries.get_entry(session, AU, "00013", d("2025-03-01"), at_release=first)
    assert old is not None and old.name == "Phường Quán Thánh"
    history = queries.history(session, AU, "00013")
    assert [(h.version.name, h.version.superseded_release) for h in history] == [
        ("Phường Quán Thánh", fixed), ("Phường Quán Thánh (sửa)", None)]


def test_merge_target_keeping_a_source_code_continues_that_entry(session: Session) -> None:
    hanoi(session)
    publish(session, [
        {"op": "merge", "list": AU, "sources": ["00004", "00013"],
         "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường", "parent": "01"}},
        {"op": "retire", "list": AU, "code": "00001"},
        {"op": "merge", "list": AU, "sources": ["00037"],
         "target": {"code": "00038", "name": "Phường Hoàn Kiếm", "type": "Phường",
                    "parent": "01"}},
        {"op": "retire", "list": AU, "code": "001"},
        {"op": "retire", "list": AU, "code": "002"},
    ], "2025-07-01")
    kept = get(session, "00004", "2025-07-01")
    assert kept is not None and (kept.name, kept.parent, kept.status) == (
        "Phường Ba Đình", "01", "active")
    assert get(session, "00013", "2025-07-01").status == "retired"  # type: ignore[union-attr]
    links = queries.lineage(session, AU, "00013")
    assert [(lk.to_code, lk.kind, lk.is_default) for lk in links] == [("00004", "whole", True)]
    assert queries.lineage(session, AU, "00004") == []  # no self-link for the continued code
    assert get(session, "00038", "2025-07-01").name == "Phường Hoàn Kiếm"  # type: ignore[union-attr]
    assert check_invariants(session) == []


def test_split_marks_the_default_and_ends_the_source(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "split", "list": AU, "source": "00037", "targets": [
        {"code": "00038", "name": "Phường A", "type": "Phường", "parent": "002",
         "default": True, "share": 0.7},
        {"code": "00039", "name": "Phường B", "type": "Phường", "parent": "002", "share": 0.3},
    ]}], "2025-07-01")
    result = graph_reads.resolve(session, AU, "00037", d("2025-07-01"))
    assert result.status == "ended" and result.ambiguous
    assert [(s.entry.code, s.is_default, s.share) for s in result.successors] == [
        ("00038", True, 0.7), ("00039", False, 0.3)]


def test_split_keeping_the_source_code_continues_it(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "split", "list": AU, "source": "00037", "targets": [
        {"code": "00037", "name": "Phường Phúc Tân", "type": "Phường", "parent": "002",
         "default": True},
        {"code": "00039", "name": "Phường B", "type": "Phường", "parent": "002"},
    ]}], "2025-07-01")
    assert get(session, "00037", "2025-07-01").status == "active"  # type: ignore[union-attr]
    assert [lk.to_code for lk in queries.lineage(session, AU, "00037")] == ["00039"]


def test_transfer_records_a_part_link_and_both_continue(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "transfer", "list": AU, "from": "00001", "to": "00004",
                       "share": 0.25}], "2025-07-01")
    links = queries.lineage(session, AU, "00001")
    assert [(lk.to_code, lk.kind, lk.share) for lk in links] == [("00004", "part", 0.25)]
    assert get(session, "00001", "2025-07-01").status == "active"  # type: ignore[union-attr]


def test_reorganize_n_to_m_with_explicit_links(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "reorganize", "list": AU,
                       "sources": ["00001", "00004", "00013"],
                       "targets": [
                           {"code": "00001", "name": "Phường X", "type": "Phường", "parent": "001"},
                           {"code": "00040", "name": "Phường Y", "type": "Phường",
                            "parent": "001"}],
                       "links": [
                           {"from": "00001", "to": "00001"},
                           {"from": "00004", "to": "00001", "kind": "part", "default": True},
                           {"from": "00004", "to": "00040", "kind": "part"},
                           {"from": "00013", "to": "00040"}]}], "2025-07-01")
    assert get(session, "00001", "2025-07-01").name == "Phường X"  # type: ignore[union-attr]
    assert get(session, "00004", "2025-07-01").status == "retired"  # type: ignore[union-attr]
    resolved = graph_reads.resolve(session, AU, "00004", d("2025-07-01"))
    assert [(s.entry.code, s.is_default) for s in resolved.successors] == [
        ("00001", True), ("00040", False)]
    assert [s.entry.code for s in graph_reads.resolve(session, AU, "00013",
                                                  d("2025-07-01")).successors] == ["00040"]


def test_divided_entry_without_exactly_one_default_is_refused(session: Session) -> None:
    hanoi(session)
    with pytest.raises(ValidationErrors) as err:
        publish(session, [{"op": "reorganize", "list": AU, "sources": ["00004"],
                           "targets": [
                               {"code": "00040", "name": "A", "type": "Phường", "parent": "001"},
                               {"code": "00041", "name": "B", "type": "Phường", "parent": "001"}],
                           "links": [{"from": "00004", "to": "00040", "kind": "part"},
                                     {"from": "00004", "to": "00041", "kind": "part"}]}],
                "2025-07-01")
    assert err.value.errors[0].rule == "one_default"


def test_resolve_follows_successors_transitively(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "merge", "list": AU, "sources": ["00013", "00004"],
                       "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường",
                                  "parent": "001"}}], "2025-03-01")
    publish(session, [{"op": "merge", "list": AU, "sources": ["00004", "00001"],
                       "target": {"code": "00001", "name": "Phường Mới", "type": "Phường",
                                  "parent": "001"}}], "2025-07-01")
    early = graph_reads.resolve(session, AU, "00013", d("2025-03-01"))
    assert [s.entry.code for s in early.successors] == ["00004"]
    late = graph_reads.resolve(session, AU, "00013", d("2025-07-01"))
    assert [s.entry.code for s in late.successors] == ["00001"] and not late.ambiguous
    chain = queries.lineage(session, AU, "00013")
    assert [(lk.from_code, lk.to_code, lk.depth) for lk in chain] == [
        ("00013", "00004", 1), ("00004", "00001", 2)]
    back = queries.lineage(session, AU, "00001", direction="predecessors")
    assert {lk.from_code for lk in back} == {"00004", "00013"}
