"""Resolve when an address may fall in more than one unit (DESIGN §11: ambiguity is data).

A code that continues but gave parts of its area away is active *and* ambiguous, its own
entry the default successor; a code that continued whole is not; an ended code that was
divided lists every successor, the default first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from registry.services import graph_reads
from registry.services.graph_reads import resolve as resolve_at
from registry.services.queries import Resolution
from tests.factories import d, hanoi, publish

AU = "admin-units"


def ward(code: str, name: str, parent: str = "001", **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": name, "type": "Phường", "parent": parent, **extra}


# 00004 keeps its code (00013 joins it) and is also a part source of the new 00040.
KEEP_AND_GIVE = [
    {"op": "merge", "list": AU, "sources": ["00004", "00013"],
     "target": ward("00004", "Phường Ba Đình")},
    {"op": "merge", "list": AU,
     "sources": [{"code": "00004", "kind": "part", "share": 0.2, "default": False}, "00001"],
     "target": ward("00040", "Phường Ngọc Hà")},
]


def shape(result: Resolution) -> list[tuple[str, bool, tuple[str, ...], float | None]]:
    return [(s.entry.code, s.is_default, s.kinds, s.share) for s in result.successors]


def test_a_kept_code_that_gave_part_of_its_area_away_is_active_and_ambiguous(
    session: Session,
) -> None:
    hanoi(session)
    publish(session, KEEP_AND_GIVE, "2025-07-01")
    kept = graph_reads.resolve(session, AU, "00004", d("2025-07-01"))
    assert (kept.status, kept.ambiguous, kept.divided_on) == ("active", True, d("2025-07-01"))
    assert kept.entry is not None and kept.entry.name == "Phường Ba Đình"
    assert kept.ended_on is None
    # Its own entry first, as the default; then the receiver.
    assert shape(kept) == [("00004", True, (), None), ("00040", False, ("part",), 0.2)]
    assert kept.successors[0].entry == kept.entry
    assert kept.successors[1].entry.name == "Phường Ngọc Hà"
    # Before the change the code was whole.
    before = graph_reads.resolve(session, AU, "00004", d("2025-06-30"))
    assert (before.status, before.ambiguous, before.divided_on, before.successors) == (
        "active", False, None, [])
    # A code merged whole into it went whole to the kept entry: the parts 00004 gave away
    # were its own old area, recorded by the same change set.
    for day in ("2025-07-01", "2025-08-01"):
        joined = graph_reads.resolve(session, AU, "00013", d(day))
        assert (joined.status, joined.ambiguous, joined.divided_on) == ("ended", False, None)
        assert shape(joined) == [("00004", True, ("whole",), None)]


def test_as_dict_carries_the_divided_on_date(session: Session) -> None:
    hanoi(session)
    publish(session, KEEP_AND_GIVE, "2025-07-01")
    got = graph_reads.resolve(session, AU, "00004", d("2025-08-01")).as_dict()
    assert (got["status"], got["ambiguous"], got["divided_on"], got["ended_on"]) == (
        "active", True, "2025-07-01", None)
    assert [(s["entry"]["code"], s["default"], s["kinds"]) for s in got["successors"]] == [
        ("00004", True, []), ("00040", False, ["part"])]
    plain = graph_reads.resolve(session, AU, "00037", d("2025-08-01")).as_dict()
    assert (plain["ambiguous"], plain["divided_on"], plain["successors"]) == (False, None, [])


def test_a_transfer_makes_the_giver_ambiguous_and_not_the_receiver(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "transfer", "list": AU, "from": "00001", "to": "00004",
                       "share": 0.25}], "2025-07-01")
    giver = graph_reads.resolve(session, AU, "00001", d("2025-07-01"))
    assert (giver.status, giver.ambiguous, giver.divided_on) == ("active", True, d("2025-07-01"))
    assert shape(giver) == [("00001", True, (), None), ("00004", False, ("part",), 0.25)]
    receiver = graph_reads.resolve(session, AU, "00004", d("2025-07-01"))
    assert (receiver.status, receiver.ambiguous, receiver.successors) == ("active", False, [])
    # The transfer is not yet in force the day before.
    assert not graph_reads.resolve(session, AU, "00001", d("2025-06-30")).ambiguous


def test_a_code_that_continued_whole_stays_unambiguous(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "merge", "list": AU, "sources": ["00004", "00013"],
                       "target": ward("00004", "Phường Ba Đình")},
                      {"op": "rename", "list": AU, "code": "00001", "name": "Phường Mới"}],
            "2025-07-01")
    for code in ("00004", "00001"):
        got = graph_reads.resolve(session, AU, code, d("2025-07-01"))
        assert (got.status, got.ambiguous, got.divided_on, got.successors) == (
            "active", False, None, [])


def test_a_divided_ended_code_lists_every_successor_default_first(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "split", "list": AU, "source": "00037", "targets": [
        {"code": "00039", "name": "Phường B", "type": "Phường", "parent": "002", "share": 0.3},
        {"code": "00038", "name": "Phường A", "type": "Phường", "parent": "002",
         "default": True, "share": 0.7}]}], "2025-03-01")
    # Later the non-default part ends too: resolve follows it to what carries it on.
    publish(session, [{"op": "merge", "list": AU, "sources": ["00039", "00001"],
                       "target": ward("00033", "Phường C", "001")}], "2025-07-01")
    got = graph_reads.resolve(session, AU, "00037", d("2025-07-01"))
    assert (got.status, got.ended_on, got.ambiguous, got.divided_on) == (
        "ended", d("2025-03-01"), True, None)
    assert shape(got) == [("00038", True, ("part",), 0.7),
                          ("00033", False, ("part", "whole"), 0.3)]
    early = graph_reads.resolve(session, AU, "00037", d("2025-05-01"))
    assert [s.entry.code for s in early.successors] == ["00038", "00039"]


def test_a_receiver_that_ended_hands_the_part_on(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "transfer", "list": AU, "from": "00001", "to": "00004",
                       "share": 0.5}], "2025-03-01")
    publish(session, [{"op": "merge", "list": AU, "sources": ["00004", "00013"],
                       "target": ward("00050", "Phường Mới")}], "2025-07-01")
    got = graph_reads.resolve(session, AU, "00001", d("2025-08-01"))
    assert (got.status, got.ambiguous, got.divided_on) == ("active", True, d("2025-03-01"))
    assert shape(got) == [("00001", True, (), None), ("00050", False, ("part", "whole"), 0.5)]


def test_divided_on_is_the_latest_division_in_force(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "transfer", "list": AU, "from": "00001", "to": "00004"}],
            "2025-03-01")
    publish(session, [{"op": "transfer", "list": AU, "from": "00001", "to": "00013"}],
            "2025-07-01")
    spring = graph_reads.resolve(session, AU, "00001", d("2025-05-01"))
    assert spring.divided_on == d("2025-03-01")
    assert [s.entry.code for s in spring.successors] == ["00001", "00004"]
    summer = graph_reads.resolve(session, AU, "00001", d("2025-08-01"))
    assert summer.divided_on == d("2025-07-01")
    assert [s.entry.code for s in summer.successors] == ["00001", "00004", "00013"]


def test_an_ended_code_whose_successor_later_gave_area_away_is_ambiguous(
    session: Session,
) -> None:
    hanoi(session)
    publish(session, [{"op": "merge", "list": AU, "sources": ["00004", "00013"],
                       "target": ward("00004", "Phường Ba Đình")}], "2025-03-01")
    publish(session, [{"op": "transfer", "list": AU, "from": "00004", "to": "00001",
                       "share": 0.1}], "2025-07-01")
    before = graph_reads.resolve(session, AU, "00013", d("2025-06-30"))
    assert (before.ambiguous, shape(before)) == (False, [("00004", True, ("whole",), None)])
    after = graph_reads.resolve(session, AU, "00013", d("2025-07-01"))
    assert (after.status, after.ambiguous, after.divided_on) == ("ended", True, None)
    assert shape(after) == [("00004", True, ("whole",), None),
                            ("00001", False, ("whole", "part"), 0.1)]


def test_area_given_back_is_not_ambiguous(session: Session) -> None:
    hanoi(session)
    publish(session, [{"op": "transfer", "list": AU, "from": "00001", "to": "00013"}],
            "2025-03-01")
    publish(session, [{"op": "merge", "list": AU, "sources": ["00001", "00013"],
                       "target": ward("00001", "Phường Phúc Xá")}], "2025-07-01")
    got = graph_reads.resolve(session, AU, "00001", d("2025-07-01"))
    assert (got.status, got.ambiguous, got.divided_on, got.successors) == (
        "active", False, None, [])


def test_record_time_answers_as_the_earlier_release_did(session: Session) -> None:
    first = hanoi(session)
    publish(session, KEEP_AND_GIVE, "2025-07-01")
    then = resolve_at(session, AU, "00004", d("2025-08-01"), first)
    assert (then.status, then.ambiguous, then.divided_on, then.successors) == (
        "active", False, None, [])


def test_a_kept_code_whose_people_went_to_a_part_has_that_part_as_default(
    session: Session,
) -> None:
    # As 06799 Xã Hải Hòa in 2025: it kept its code, but "một phần diện tích, toàn bộ dân
    # số" went to another commune, so its link there is marked default.
    hanoi(session)
    people = [KEEP_AND_GIVE[0], {**KEEP_AND_GIVE[1], "sources": [
        {"code": "00004", "kind": "part", "share": 0.2, "default": True}, "00001"]}]
    publish(session, people, "2025-07-01")
    kept = graph_reads.resolve(session, AU, "00004", d("2025-07-01"))
    assert (kept.status, kept.ambiguous) == ("active", True)
    assert shape(kept) == [("00040", True, ("part",), 0.2), ("00004", False, (), None)]


def test_statements_per_answer(session: Session) -> None:
    """A plain active code stays one statement; each step of a walk adds its reads."""
    from sqlalchemy import event

    hanoi(session)
    publish(session, KEEP_AND_GIVE, "2025-07-01")
    connection = session.connection()
    resolve_at(connection, AU, "00037", d("2025-07-01"), None)  # learn the list ids
    counted: list[str] = []

    def count(*args: Any) -> None:
        counted.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    try:
        costs = {}
        for code in ("00037", "00004", "00013"):
            counted.clear()
            resolve_at(connection, AU, code, d("2025-07-01"), None)
            costs[code] = len(counted)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    # Plain: its records. Divided or ended: records, the code's links, the successors.
    assert costs == {"00037": 1, "00004": 3, "00013": 3}
