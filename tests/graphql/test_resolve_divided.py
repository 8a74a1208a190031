"""``resolve`` over GraphQL when an address may fall in more than one unit (DESIGN §11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.factories import hanoi, keep_give_split, publish
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]
AU = "admin-units"

QUERY = '''query($code: String!, $asOf: Date, $atRelease: Int) {
  resolve(list: "admin-units", code: $code, asOf: $asOf, atRelease: $atRelease) {
    status endedOn dividedOn ambiguous entry { code name }
    successors { isDefault kinds share entry { code name } } } }'''


def _reform(write: Write) -> dict[str, int]:
    """00004 keeps its code and gives part of its area to the new 00040; 00001 gives part
    to 00004 by a transfer; 00037 is divided and ends."""
    first = write(hanoi)
    reform = write(lambda s: publish(s, keep_give_split(), "2025-07-01"))
    transfer = write(lambda s: publish(s, [
        {"op": "transfer", "list": AU, "from": "00040", "to": "00038", "share": 0.1},
    ], "2025-09-01"))
    return {"first": first, "reform": reform, "transfer": transfer}


def test_a_continuing_code_that_gave_area_away(api: Api, write: Write) -> None:
    releases = _reform(write)
    got = api(QUERY, {"code": "00004", "asOf": "2025-07-01"})["resolve"]
    assert got == {
        "status": "ACTIVE", "endedOn": None, "dividedOn": "2025-07-01", "ambiguous": True,
        "entry": {"code": "00004", "name": "Phường Ba Đình"},
        "successors": [
            {"isDefault": True, "kinds": [], "share": None,
             "entry": {"code": "00004", "name": "Phường Ba Đình"}},
            {"isDefault": False, "kinds": ["part"], "share": 0.2,
             "entry": {"code": "00040", "name": "Phường Ngọc Hà"}}]}
    # The part went on to a unit that later gave area away too: that unit's part follows.
    later = api(QUERY, {"code": "00004", "asOf": "2025-09-01"})["resolve"]
    assert [(s["entry"]["code"], s["isDefault"], s["kinds"]) for s in later["successors"]] == [
        ("00004", True, []), ("00038", False, ["part", "part"]), ("00040", False, ["part"])]
    # Release by release: before the reform was recorded, the code was simply active.
    then = api(QUERY, {"code": "00004", "asOf": "2025-07-01",
                       "atRelease": releases["first"]})["resolve"]
    assert (then["status"], then["ambiguous"], then["dividedOn"], then["successors"]) == (
        "ACTIVE", False, None, [])


def test_a_transfer_and_a_whole_continuation(api: Api, write: Write) -> None:
    _reform(write)
    giver = api(QUERY, {"code": "00040", "asOf": "2025-09-01"})["resolve"]
    assert (giver["status"], giver["ambiguous"], giver["dividedOn"]) == (
        "ACTIVE", True, "2025-09-01")
    assert [(s["entry"]["code"], s["isDefault"], s["share"]) for s in giver["successors"]] == [
        ("00040", True, None), ("00038", False, 0.1)]
    receiver = api(QUERY, {"code": "00038", "asOf": "2025-09-01"})["resolve"]
    assert (receiver["ambiguous"], receiver["dividedOn"], receiver["successors"]) == (
        False, None, [])
    before = api(QUERY, {"code": "00040", "asOf": "2025-08-31"})["resolve"]
    assert (before["ambiguous"], before["successors"]) == (False, [])


def test_a_divided_ended_code_keeps_its_answer(api: Api, write: Write) -> None:
    _reform(write)
    got = api(QUERY, {"code": "00037", "asOf": "2025-07-01"})["resolve"]
    assert (got["status"], got["endedOn"], got["dividedOn"], got["ambiguous"]) == (
        "ENDED", "2025-07-01", None, True)
    assert [(s["entry"]["code"], s["isDefault"], s["kinds"], s["share"])
            for s in got["successors"]] == [("00038", True, ["part"], 0.6),
                                            ("00039", False, ["part"], 0.4)]
    merged = api(QUERY, {"code": "00013", "asOf": "2025-07-01"})["resolve"]
    assert (merged["ambiguous"], [s["entry"]["code"] for s in merged["successors"]]) == (
        False, ["00004"])
