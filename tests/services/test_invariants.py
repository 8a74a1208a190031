"""The invariants of DESIGN §4, each refused with the rule named and nothing written."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import EntryVersion, FeedRecord
from registry.services import feed, queries
from registry.services.integrity import check_invariants
from tests.factories import d, hanoi, publish, publish_refused, unit

AU = "admin-units"


def refused(session: Session, ops: list[dict[str, object]], effective: str = "2025-07-01",
            ) -> list[tuple[str, str]]:
    """Publish and expect a refusal; check nothing was written; return (field, rule)s."""
    return [(e.field, e.rule) for e in publish_refused(session, list(ops), effective)]


def test_code_breaking_the_pattern_is_refused(session: Session) -> None:
    hanoi(session)
    assert refused(session, [unit("0001", "Phường X", "Phường", "001")]) == [
        ("operations[0].code", "code_pattern")]
    assert refused(session, [unit("A0001", "Phường X", "Phường", "001")])[0][1] == "code_pattern"


def test_reuse_of_a_closed_code_is_refused(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "retire", "list": AU, "code": "00037"}], "2025-07-01")
    problems = refused(session, [unit("00037", "Phường Khác", "Phường", "002")], "2025-08-01")
    assert problems == [("operations[0].code", "code_reuse")]


def test_existing_code_is_refused(session: Session) -> None:
    hanoi(session)
    assert refused(session, [unit("00004", "Trùng", "Phường", "001")]) == [
        ("operations[0].code", "exists")]


def test_cycle_is_refused(session: Session) -> None:
    from registry.services import code_lists
    from registry.services.actors import SYSTEM
    code_lists.define_lists(session, SYSTEM, [{
        "key": "org-chart", "name": "Sơ đồ tổ chức", "code_pattern": "^[A-Z]$",
        "levels": [{"key": "unit", "types": ["Đơn vị"], "parents": ["unit"],
                    "optional_parent": True}]}])
    publish(session, [
        {"op": "create", "list": "org-chart", "code": "A", "name": "A", "type": "Đơn vị"},
        {"op": "create", "list": "org-chart", "code": "B", "name": "B", "type": "Đơn vị",
         "parent": "A"},
        {"op": "create", "list": "org-chart", "code": "C", "name": "C", "type": "Đơn vị",
         "parent": "B"},
    ])
    problems = refused(session, [{"op": "move", "list": "org-chart", "code": "A",
                                  "parent": "C"}])
    assert problems == [("operations[0].parent", "cycle")]


def test_orphan_is_refused(session: Session) -> None:
    hanoi(session)
    problems = refused(session, [{"op": "retire", "list": AU, "code": "002"}])
    assert problems == [("operations[0].code", "orphan")]
    # moving the child away in the same change set makes it valid
    publish(session, [{"op": "move", "list": AU, "code": "00037", "parent": "001"},
                      {"op": "retire", "list": AU, "code": "002"}], "2025-07-01")
    assert check_invariants(session) == []


def test_parent_of_the_wrong_level_or_missing_is_refused(session: Session) -> None:
    hanoi(session)
    assert refused(session, [unit("003", "Quận X", "Quận", "00001")]) == [
        ("operations[0].parent", "parent_level")]
    assert refused(session, [unit("003", "Quận X", "Quận")]) == [
        ("operations[0].parent", "parent_required")]
    assert refused(session, [unit("003", "Quận X", "Quận", "99")]) == [
        ("operations[0].parent", "parent_missing")]


def test_overlapping_validity_is_refused(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "rename", "list": AU, "code": "00004", "name": "Tên mới"}],
            "2025-07-01")
    problems = refused(session, [{"op": "rename", "list": AU, "code": "00004",
                                  "name": "Tên chen giữa"}], "2025-03-01")
    assert problems == [("operations[0].code", "later_change")]
    assert check_invariants(session) == []


def test_parent_ending_later_would_orphan_a_new_child(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "move", "list": AU, "code": "00037", "parent": "001"},
                      {"op": "retire", "list": AU, "code": "002"}], "2025-07-01")
    problems = refused(session, [unit("00050", "Phường Z", "Phường", "002")], "2025-03-01")
    assert problems == [("operations[0].parent", "parent_ends")]


def test_changing_an_ended_entry_is_refused(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "retire", "list": AU, "code": "00037"}], "2025-07-01")
    assert refused(session, [{"op": "rename", "list": AU, "code": "00037", "name": "X"}],
                   "2025-08-01") == [("operations[0].code", "not_active")]


def test_unknown_type_and_list_are_refused(session: Session) -> None:
    hanoi(session)
    assert refused(session, [unit("00050", "X", "Làng", "001")]) == [
        ("operations[0].type", "type")]
    assert refused(session, [{"op": "create", "list": "nope", "code": "1", "name": "x",
                              "type": "x"}]) == [("operations[0].list", "unknown_list")]


def test_nfd_input_is_stored_as_nfc_and_search_folds(session: Session) -> None:
    nfd = unicodedata.normalize("NFD", "Thành phố Hà Nội")
    assert nfd != "Thành phố Hà Nội"
    publish(session, [unit("01", nfd, unicodedata.normalize("NFD", "Thành phố Trung ương"))])
    stored = queries.get_entry(session, AU, "01", d("2025-01-01"))
    assert stored is not None and stored.name == "Thành phố Hà Nội"
    assert unicodedata.is_normalized("NFC", stored.name)
    for term in ("ha noi", "HÀ NỘI", nfd, "thanh pho ha"):
        page = queries.list_entries(session, AU, search=term, as_of=d("2025-01-01"))
        assert [e.code for e in page.items] == ["01"], term


def test_search_folds_d_with_stroke(session: Session) -> None:
    hanoi(session)
    publish(session, [unit("00050", "Phường Đống Đa", "Phường", "001")])
    assert [e.code for e in queries.list_entries(session, AU, search="dong da",
                                                 as_of=d("2025-01-01")).items] == ["00050"]


def test_feed_is_gapless_and_verifies(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "rename", "list": AU, "code": "00004", "name": "Tên mới"}],
            "2025-07-01")
    head = feed.verify_feed(session)
    seqs = list(session.scalars(select(FeedRecord.seq).order_by(FeedRecord.seq)))
    assert seqs == list(range(1, head.seq + 1))
    assert head.release == queries.latest_release(session)


def test_tampered_feed_fails_verification(session: Session) -> None:
    hanoi(session)
    row = session.scalars(select(FeedRecord).where(FeedRecord.record.like("%Hà Nội%"))
                          .order_by(FeedRecord.seq).limit(1)).one()
    row.record = row.record.replace("Hà Nội", "Ha Noi")
    session.flush()
    from registry.errors import FeedIntegrityError
    with pytest.raises(FeedIntegrityError, match=f"seq {row.seq}: hash"):
        feed.verify_feed(session)


def test_published_release_is_reproducible(session: Session) -> None:
    first = hanoi(session)
    before = [e.as_dict() for e in queries.list_entries(
        session, AU, as_of=d("2025-08-01"), at_release=first).items]
    publish(session, [{"op": "rename", "list": AU, "code": "00004", "name": "Tên mới"},
                      {"op": "retire", "list": AU, "code": "00037"}], "2025-07-01")
    again = [e.as_dict() for e in queries.list_entries(
        session, AU, as_of=d("2025-08-01"), at_release=first).items]
    assert again == before


def test_future_dated_change_is_invisible_today_and_visible_on_its_date(
        session: Session) -> None:
    from registry.config import today
    hanoi(session)
    future = today().replace(year=today().year + 1)
    publish(session, [{"op": "rename", "list": AU, "code": "00004", "name": "Tương lai"}],
            future.isoformat())
    assert queries.get_entry(session, AU, "00004").name == "Phường Trúc Bạch"  # type: ignore[union-attr]
    assert queries.get_entry(session, AU, "00004", future).name == "Tương lai"  # type: ignore[union-attr]


def _org_chart(session: Session) -> None:
    from registry.services import code_lists
    from registry.services.actors import SYSTEM
    code_lists.define_lists(session, SYSTEM, [{
        "key": "org-chart", "name": "Sơ đồ tổ chức", "code_pattern": "^[A-Z]$",
        "levels": [{"key": "unit", "types": ["Đơn vị"], "parents": ["unit"],
                    "optional_parent": True}]}])


def test_parents_swapped_on_different_dates_are_no_cycle(session: Session) -> None:
    """B under A until 2025-07-01, A under B after it: each date has a tree."""
    _org_chart(session)
    publish(session, [
        {"op": "create", "list": "org-chart", "code": code, "name": code, "type": "Đơn vị",
         **({"parent": parent} if parent else {})} for code, parent in
        (("A", None), ("B", "A"), ("C", None))], "2020-01-01")
    publish(session, [{"op": "move", "list": "org-chart", "code": "B", "parent": "C"},
                      {"op": "move", "list": "org-chart", "code": "A", "parent": "B"}],
            "2025-07-01")
    assert check_invariants(session) == []


def test_the_checker_finds_a_cycle_written_behind_the_services(session: Session) -> None:
    from sqlalchemy import update

    _org_chart(session)
    publish(session, [
        {"op": "create", "list": "org-chart", "code": code, "name": code, "type": "Đơn vị",
         **({"parent": parent} if parent else {})} for code, parent in
        (("A", None), ("B", "A"), ("C", "B"))], "2020-01-01")
    session.execute(update(EntryVersion).where(EntryVersion.code == "A")
                    .values(parent_code="C"))
    assert check_invariants(session) == ["org-chart: cycle A → C → B → A on 2020-01-01"]
