"""The fast digest of a list's rows is the digest of the record vocabulary, byte for byte:
both sides of sync compute it, so any difference would call equal replicas different."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.services.checksums import (
    CanonicalAttributes,
    ListChecksum,
    version_dict,
    version_digest,
    version_digests,
)

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
OPTIONAL = st.none() | TEXT
DAY = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | TEXT,
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)

ROW = st.tuples(TEXT, DAY, st.none() | DAY, TEXT, TEXT, OPTIONAL, OPTIONAL, TEXT, TEXT,
                OPTIONAL, st.none() | st.dictionaries(TEXT, JSONISH, max_size=4),
                st.integers(1, 2**31 - 1), st.none() | st.integers(1, 2**31 - 1),
                st.integers(1, 10**6))


@settings(max_examples=300, deadline=None)
@given(st.lists(ROW, max_size=5), st.booleans())
def test_fast_digests_equal_the_record_digests(rows: list[tuple[Any, ...]],
                                               dates_as_text: bool) -> None:
    expected = [version_digest(version_dict("admin-units", row)) for row in rows]
    if dates_as_text:  # how a SQLite replica hands its dates and attributes back
        rows = [(r[0], r[1].isoformat(), r[2].isoformat() if r[2] else None, *r[3:10],
                 json.dumps(r[10]), *r[11:]) for r in rows]
    assert list(version_digests("admin-units", rows)) == expected


def test_summing_digests_at_once_equals_adding_them_one_by_one() -> None:
    rows = [(f"0000{n}", date(2025, 1, n % 28 + 1), None, "active", f"Phường {n}", None,
             None, "Phường", "commune", "001", {"b": [1, "ư"], "a": None}, n, None, n)
            for n in range(50)]
    one = ListChecksum("admin-units")
    for row in rows:
        one.add_version(version_dict("admin-units", row))
    many = ListChecksum("admin-units")
    many.add_version_digests(version_digests("admin-units", rows))
    assert one == many and one.versions == 50 and one.version_sum != 0


def test_stored_attribute_texts_are_parsed_once_and_forgotten_past_the_limit() -> None:
    canonical = CanonicalAttributes()
    assert canonical('{"b": 1, "a": "\\u01b0"}') == '{"a":"ư","b":1}'
    assert canonical({"b": 1, "a": "ư"}) == '{"a":"ư","b":1}'
    assert canonical(None) == canonical("{}") == canonical("null") == canonical({}) == "{}"
    for n in range(CanonicalAttributes.LIMIT + 10):
        assert canonical(json.dumps({"n": n})) == f'{{"n":{n}}}'
    assert len(canonical._seen) <= CanonicalAttributes.LIMIT
