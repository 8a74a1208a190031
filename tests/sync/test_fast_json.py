"""orjson on a replica's hot path gives exactly what json gave (issue: sync at the speed
of logical replication): big integers, NaN, lone surrogates and floats in attributes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import select

from registry.db import make_engine
from registry.errors import FeedIntegrityError
from registry.services.actors import SYSTEM
from registry.services.code_lists import define_lists
from registry.sync.codec import decode_canonical
from registry.sync.fast_json import attributes_text, has_float, load_records
from registry.sync.local_schema import versions
from registry.sync.local_store import normalise_local_url
from tests.sync.conftest import Centre, Targets, hanoi_replica

BIG = 123456789012345678901234567890  # orjson alone reads this as 1.2345678901234568e+29


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and ints not equal to floats."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("attributes", [
    {"group": "nhóm 38"},
    {"population": BIG, "negative": -BIG},
    {"nested": {"deep": [1, 2, {"x": BIG}]}},
    {"area": 3.14159, "tiny": 5e-324, "exact": 0.1},
    {"i64": 9223372036854775807, "u64": 18446744073709551615},
    {"u64_plus_one": 18446744073709551616},
    {},
])
def test_records_read_as_json_reads_them(attributes: dict[str, Any]) -> None:
    lines = [json.dumps({"seq": 1, "t": "version", "attributes": attributes},
                        ensure_ascii=False, separators=(",", ":")).encode(),
             b'{"seq":2,"t":"release","release":7}']
    expected = [json.loads(line) for line in lines]
    assert _same(load_records(lines), expected)


@pytest.mark.parametrize("line", [b'{"attributes":{"x":NaN}}', b'{"attributes":{"x":Infinity}}',
                                  b'{"name":"\\ud800"}', b'{"attributes":{"x":1e400}}'])
def test_what_orjson_refuses_and_json_accepts_is_read_by_json(line: bytes) -> None:
    assert _same(load_records([line]), [json.loads(line)])


@pytest.mark.parametrize("line", [b'{"seq":1', b"not json", b'{"a":1}{"b":2}'])
def test_what_is_not_json_is_refused_as_json_refuses_it(line: bytes) -> None:
    with pytest.raises(ValueError):
        load_records([line])


@pytest.mark.parametrize("attributes", [
    {"group": "nhóm 38", "null": None, "flag": True},
    {"population": BIG}, {"x": float("nan")}, {"x": float("inf")}, {"x": 1.5},
    {"list": [1, "ư", {"k": [None]}]}, {"deep": {"x": [float("-inf")]}, "none": None},
])
def test_attributes_written_read_back_the_same(attributes: dict[str, Any]) -> None:
    assert _same(json.loads(attributes_text(attributes)), attributes)


def test_attributes_without_floats_are_written_compact() -> None:
    assert attributes_text({"group": "nhóm 38", "n": 7}) == '{"group":"nhóm 38","n":7}'
    assert attributes_text({"x": float("nan")}) == '{"x": NaN}'  # not orjson's null
    assert attributes_text({"x": None, "n": 7}) == '{"x":null,"n":7}'  # a real null


def test_floats_are_found_at_any_depth() -> None:
    assert has_float({"a": [1, {"b": 2.0}]}) and has_float(0.5)
    assert not has_float({"a": [1, {"b": "2.0"}], "c": None, "d": True})


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_followed_big_integer_attribute_arrives_exact(centre: Centre, targets: Targets,
                                                        backend: str) -> None:
    client, into = hanoi_replica(centre, targets, backend)
    try:
        centre.run(lambda session: define_lists(session, SYSTEM, [{
            "key": "counts", "name": "Số liệu", "code_pattern": "^\\d{2}$",
            "levels": [{"key": "item", "types": ["Mục"], "parents": []}],
            "attributes": {"population": {"type": "integer"}, "area_km2": {"type": "number"}},
        }]))
        centre.publish([{"op": "create", "list": "counts", "code": "16", "name": "Thụy Khuê",
                         "type": "Mục", "attributes": {"population": BIG, "area_km2": 1.5}}],
                       "2025-03-01")
        assert client.pull().releases == 2
        engine = make_engine(normalise_local_url(into))
        try:
            with engine.connect() as conn:
                stored = conn.scalar(select(versions.c.attributes)
                                     .where(versions.c.list_key == "counts"))
        finally:
            engine.dispose()
        found = json.loads(stored) if isinstance(stored, str) else stored
        assert _same(found, {"population": BIG, "area_km2": 1.5})
        assert client.verify().ok  # the local checksum agrees with the centre's
    finally:
        client.close()


def test_a_line_holding_two_records_is_refused_whatever_the_count_says() -> None:
    lines = [b'{"seq":1,"attributes":{"x":1.5}},{"seq":2,"attributes":{"x":2.5}}',
             b'{"seq":3,"attributes":{}}']
    body = b"".join(line + b"\n" for line in lines)
    for count in (2, 3):  # the lines, or the values they hold
        with pytest.raises(FeedIntegrityError, match="line 1 is not a valid record"):
            decode_canonical({"count": count}, body, "page 0")
