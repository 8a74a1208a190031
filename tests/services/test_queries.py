"""Reads: keyset pagination, filters, ancestors, history, as-of and at-release."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry.errors import NotFound, ValidationError
from registry.services import graph_reads, queries
from tests.factories import d, hanoi, publish, unit

AU = "admin-units"


def collect(session: Session, **kwargs: object) -> list[str]:
    codes: list[str] = []
    after = None
    while True:
        page = queries.list_entries(session, AU, as_of=d("2025-01-01"), after=after,
                                    **kwargs)  # type: ignore[arg-type]
        codes.extend(e.code for e in page.items)
        if not page.has_next:
            return codes
        after = page.end_cursor


def test_pagination_never_skips_or_repeats_even_when_names_collide(session: Session) -> None:
    ops = [unit("01", "Thành phố Hà Nội", "Thành phố Trung ương"),
           unit("001", "Quận Ba Đình", "Quận", "01")]
    # 23 wards, many with the same name: the order must still be total.
    ops += [unit(f"{i:05d}", "Phường Trùng Tên" if i % 3 else f"Phường {i}", "Phường", "001")
            for i in range(1, 24)]
    publish(session, ops)
    expected = sorted(f"{i:05d}" for i in range(1, 24))
    for first in (1, 4, 7, 50):
        got = collect(session, parent="001", first=first)
        assert got == expected
        found = collect(session, search="phuong", first=first)
        assert sorted(found) == expected and len(found) == len(set(found))


def test_filters_by_level_type_status(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "retire", "list": AU, "code": "00037"}], "2025-01-01")
    assert collect(session, level="district", first=10) == ["001", "002"]
    assert collect(session, type="Phường", first=10) == ["00001", "00004", "00013"]
    assert collect(session, status="retired", first=10) == ["00037"]
    assert len(collect(session, status=None, first=10)) == 7


def test_bad_page_arguments_are_refused(session: Session) -> None:
    with pytest.raises(ValidationError) as err:
        queries.list_entries(session, AU, first=0)
    assert err.value.field == "first"
    with pytest.raises(ValidationError) as err:
        queries.list_entries(session, AU, after="not-a-cursor!")
    assert err.value.field == "after"
    with pytest.raises(ValidationError) as err:
        queries.get_entry(session, AU, "01", at_release=999)
    assert err.value.field == "atRelease"


def test_ancestors_and_children(session: Session) -> None:
    hanoi(session)
    chain = queries.ancestors(session, AU, "00004", d("2025-01-01"))
    assert [a.code for a in chain] == ["001", "01"]
    assert collect(session, parent="01", first=10) == ["001", "002"]
    with pytest.raises(NotFound):
        queries.ancestors(session, AU, "99999", d("2025-01-01"))


def test_resolve_states(session: Session) -> None:
    hanoi(session)
    assert graph_reads.resolve(session, AU, "00004", d("2025-01-01")).status == "active"
    assert graph_reads.resolve(session, AU, "00004", d("2024-01-01")).status == "not_yet"
    with pytest.raises(NotFound):
        graph_reads.resolve(session, AU, "77777", d("2025-01-01"))
    publish(session, [{"op": "retire", "list": AU, "code": "00037"}], "2025-07-01")
    gone = graph_reads.resolve(session, AU, "00037", d("2025-07-02"))
    assert (gone.status, gone.ended_on, gone.successors) == ("ended", d("2025-07-01"), [])


def test_at_release_and_as_of_are_independent(session: Session) -> None:
    first = hanoi(session)
    second = publish(session, [{"op": "rename", "list": AU, "code": "00004", "name": "Mới"}],
                     "2025-07-01")
    cases = {(first, "2025-08-01"): "Phường Trúc Bạch", (second, "2025-08-01"): "Mới",
             (second, "2025-06-01"): "Phường Trúc Bạch"}
    for (release, day), name in cases.items():
        got = queries.get_entry(session, AU, "00004", d(day), at_release=release)
        assert got is not None and got.name == name
