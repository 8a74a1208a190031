"""The JSON export carries each entry's resolve answer: offline conversion sees the same
ambiguity as ``registry resolve`` (DESIGN §11)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from registry.exporters.export import export_list
from registry.services.graph_reads import resolve as resolve_at
from tests.factories import d, hanoi, publish

AU = "admin-units"


def ward(code: str, name: str, parent: str = "001") -> dict[str, Any]:
    return {"code": code, "name": name, "type": "Phường", "parent": parent}


def reform(session: Session) -> dict[str, int]:
    first = hanoi(session)
    second = publish(session, [
        # 00004 keeps its code and gives part of its area to the new 00040.
        {"op": "merge", "list": AU, "sources": ["00004", "00013"],
         "target": ward("00004", "Phường Ba Đình")},
        {"op": "merge", "list": AU,
         "sources": [{"code": "00004", "kind": "part", "share": 0.2}, "00001"],
         "target": ward("00040", "Phường Ngọc Hà")},
        # 00037 is divided and ends.
        {"op": "split", "list": AU, "source": "00037", "targets": [
            {**ward("00038", "Phường A", "002"), "default": True},
            ward("00039", "Phường B", "002")]},
    ], "2025-07-01")
    # Later 00039 gives part of its area to 00038: both continue.
    third = publish(session, [{"op": "transfer", "list": AU, "from": "00039", "to": "00038",
                               "share": 0.5}], "2025-09-01")
    return {"first": first, "second": second, "third": third}


def document(session: Session, day: str, release: int | None = None) -> dict[str, Any]:
    return json.loads(export_list(session, AU, "json", d(day), release).data)  # type: ignore[no-any-return]


def test_a_continuing_divided_entry_shows_itself_as_the_default(session: Session) -> None:
    reform(session)
    doc = document(session, "2025-07-01")
    entries = {e["code"]: e for e in doc["entries"]}
    kept = entries["00004"]
    assert kept["successors"] == ["00040"]  # the direct links, as before
    assert kept["resolution"] == {
        "status": "active", "ended_on": None, "divided_on": "2025-07-01", "ambiguous": True,
        "successors": [{"code": "00004", "default": True, "kinds": [], "share": None},
                       {"code": "00040", "default": False, "kinds": ["part"], "share": 0.2}]}
    # Entries that only received area, or are new, are plain.
    for code in ("00040", "00038", "01"):
        assert entries[code]["resolution"] == {
            "status": "active", "ended_on": None, "divided_on": None, "ambiguous": False,
            "successors": []}
    ended = {e["code"]: e for e in doc["ended"]}
    assert ended["00037"]["resolution"] == {
        "status": "ended", "ended_on": "2025-07-01", "divided_on": None, "ambiguous": True,
        "successors": [{"code": "00038", "default": True, "kinds": ["part"], "share": None},
                       {"code": "00039", "default": False, "kinds": ["part"], "share": None}]}
    assert ended["00013"]["resolution"]["successors"] == [
        {"code": "00004", "default": True, "kinds": ["whole"], "share": None}]
    assert ended["00013"]["resolution"]["ambiguous"] is False


def test_a_transfer_later_shows_in_the_export_of_that_date(session: Session) -> None:
    releases = reform(session)
    doc = document(session, "2025-09-01")
    entries = {e["code"]: e for e in doc["entries"]}
    giver = entries["00039"]["resolution"]
    assert (giver["status"], giver["ambiguous"], giver["divided_on"]) == (
        "active", True, "2025-09-01")
    assert [(s["code"], s["default"]) for s in giver["successors"]] == [
        ("00039", True), ("00038", False)]
    # The divided code that ended reaches the later part too.
    ended = {e["code"]: e for e in doc["ended"]}
    assert [(s["code"], s["kinds"]) for s in ended["00037"]["resolution"]["successors"]] == [
        ("00038", ["part"]), ("00039", ["part"])]
    # As the second release said it, the transfer had not happened.
    then = document(session, "2025-09-01", releases["second"])
    assert {e["code"]: e for e in then["entries"]}["00039"]["resolution"]["ambiguous"] is False


def test_every_entry_resolves_in_the_export_as_resolve_answers(session: Session) -> None:
    releases = reform(session)
    for day, release in (("2025-07-01", None), ("2025-09-01", None),
                         ("2025-09-01", releases["second"]), ("2025-03-01", None)):
        doc = document(session, day, release)
        for item in doc["entries"] + doc["ended"]:
            found = resolve_at(session, AU, item["code"], d(day), release)
            assert item["resolution"] == {
                "status": found.status,
                "ended_on": found.ended_on.isoformat() if found.ended_on else None,
                "divided_on": found.divided_on.isoformat() if found.divided_on else None,
                "ambiguous": found.ambiguous,
                "successors": [{"code": s.entry.code, "default": s.is_default,
                                "kinds": list(s.kinds), "share": s.share}
                               for s in found.successors]}, (day, release, item["code"])
