"""The per-list checksum both sides compute (§9.11): independent of order, sensitive to
every field, and to a row held twice."""

from __future__ import annotations

import random
from typing import Any

from registry.services.checksums import ListChecksum, checksum_rows


def _version(code: str, **changes: Any) -> dict[str, Any]:
    row = {"list": "admin-units", "code": code, "valid_from": "2025-07-01", "valid_to": None,
           "status": "active", "name": f"Phường {code}", "short_name": None, "name_en": None,
           "type": "Phường", "level": "commune", "parent": "01", "attributes": {},
           "release": 3, "change_set": 2}
    row.update(changes)
    return row


ROWS = [_version(f"{i:05d}") for i in range(50)]
DEFINITION = ({"key": "admin-units", "name": "Đơn vị hành chính"}, 1)


def _sum(rows: list[dict[str, Any]]) -> ListChecksum:
    return checksum_rows(["admin-units"], {"admin-units": DEFINITION}, rows, [])["admin-units"]


def test_the_order_of_rows_does_not_matter() -> None:
    shuffled = ROWS[:]
    random.Random(7).shuffle(shuffled)
    assert _sum(shuffled).checksum == _sum(ROWS).checksum


def test_every_field_and_every_duplicate_changes_it() -> None:
    base = _sum(ROWS)
    for field, value in (("name", "Phường Khác"), ("valid_to", "2026-01-01"),
                         ("parent", "79"), ("attributes", {"a": 1}), ("release", 4),
                         ("status", "retired"), ("change_set", None)):
        changed = _sum([_version("00000", **{field: value}), *ROWS[1:]])
        assert changed.checksum != base.checksum, field
        assert changed.differences(base) == ["the 50 entry versions differ in content"]
    doubled = _sum([*ROWS, ROWS[0]])  # a sum, not XOR: a duplicate does not cancel out
    assert doubled.checksum != base.checksum
    assert doubled.differences(base) == ["51 entry versions here, 50 at the centre"]


def test_dates_compare_as_text_whatever_the_database_returns() -> None:
    from datetime import date

    as_objects = [_version(r["code"], valid_from=date(2025, 7, 1)) for r in ROWS]
    assert _sum(as_objects).checksum == _sum(ROWS).checksum


def test_the_json_form_reads_back() -> None:
    found = _sum(ROWS)
    assert ListChecksum.from_dict(found.as_dict()) == found
