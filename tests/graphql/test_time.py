"""``asOf`` (valid time) and ``atRelease`` (record time) through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from registry.config import today
from tests.factories import hanoi, publish
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]


@pytest.fixture
def releases(write: Write) -> dict[str, int]:
    """R2: Hà Nội. R3: a correction of 001's name. R4: 00037 renamed from 2099-01-01."""
    out = {"hanoi": write(hanoi)}
    out["correct"] = write(lambda s: publish(s, [
        {"op": "correct", "list": "admin-units", "code": "001", "name": "Quận Ba Đình (sửa)"},
    ], title="correction"))
    out["future"] = write(lambda s: publish(s, [
        {"op": "rename", "list": "admin-units", "code": "00037", "name": "Phường Tương Lai"},
    ], effective="2099-01-01", title="future rename"))
    return out


NAME = '''query($code: String!, $asOf: Date, $atRelease: Int) {
  entry(list: "admin-units", code: $code, asOf: $asOf, atRelease: $atRelease) {
    name asOf recordedRelease parent { name } } }'''


def test_as_of_defaults_to_today_in_viet_nam(api: Api, releases: dict[str, int]) -> None:
    got = api(NAME, {"code": "00037"})["entry"]
    assert got["asOf"] == today().isoformat()
    # Published now with an effective date in 2099: not visible as of today...
    assert got["name"] == "Phường Phúc Tân"
    # ...visible as of its effective date.
    future = api(NAME, {"code": "00037", "asOf": "2099-01-01"})["entry"]
    assert future["name"] == "Phường Tương Lai"
    assert api(NAME, {"code": "00037", "asOf": "2024-12-31"})["entry"] is None


def test_at_release_reproduces_what_a_release_said(api: Api, releases: dict[str, int]) -> None:
    latest = api(NAME, {"code": "001"})["entry"]
    assert latest["name"] == "Quận Ba Đình (sửa)"
    assert latest["recordedRelease"] == releases["correct"]
    before = api(NAME, {"code": "001", "atRelease": releases["hanoi"]})["entry"]
    assert before["name"] == "Quận Ba Đình" and before["recordedRelease"] == releases["hanoi"]
    # Nested fields answer at the release of their parent field.
    child = api(NAME, {"code": "00001", "atRelease": releases["hanoi"]})["entry"]
    assert child["parent"]["name"] == "Quận Ba Đình"
    assert api(NAME, {"code": "00001"})["entry"]["parent"]["name"] == "Quận Ba Đình (sửa)"
    # Before the entry was recorded at all, there is nothing.
    assert api(NAME, {"code": "001", "atRelease": 1})["entry"] is None
    # The latest release, named, answers as the default does.
    named = api(NAME, {"code": "001", "atRelease": releases["future"]})["entry"]
    assert named["name"] == latest["name"]


def test_at_release_and_as_of_together(api: Api, releases: dict[str, int]) -> None:
    query = '''query($r: Int) { administrativeUnits(first: 10, parent: "002", asOf: "2099-06-01",
                atRelease: $r) { nodes { code name } } }'''
    assert api(query, {"r": releases["future"]})["administrativeUnits"]["nodes"] == [
        {"code": "00037", "name": "Phường Tương Lai"}]
    assert api(query, {"r": releases["correct"]})["administrativeUnits"]["nodes"] == [
        {"code": "00037", "name": "Phường Phúc Tân"}]


def test_children_and_search_follow_at_release(api: Api, releases: dict[str, int]) -> None:
    query = '''query($r: Int) {
      administrativeUnit(code: "01", atRelease: $r) {
        children(first: 5) { nodes { name ancestors { code } } } }
      entries(list: "admin-units", search: "sua", first: 5, atRelease: $r) { nodes { code } } }'''
    old = api(query, {"r": releases["hanoi"]})
    assert [n["name"] for n in old["administrativeUnit"]["children"]["nodes"]] == [
        "Quận Ba Đình", "Quận Hoàn Kiếm"]
    assert old["entries"]["nodes"] == []
    new = api(query, {"r": releases["correct"]})
    assert [n["name"] for n in new["administrativeUnit"]["children"]["nodes"]] == [
        "Quận Ba Đình (sửa)", "Quận Hoàn Kiếm"]
    assert new["entries"]["nodes"] == [{"code": "001"}]


def test_history_is_record_time(api: Api, releases: dict[str, int]) -> None:
    query = '''query($r: Int) { entry(list: "admin-units", code: "001", atRelease: $r) {
        history { name recordedRelease supersededRelease } } }'''
    full = api(query, {})["entry"]["history"]
    assert full == [
        {"name": "Quận Ba Đình", "recordedRelease": releases["hanoi"],
         "supersededRelease": releases["correct"]},
        {"name": "Quận Ba Đình (sửa)", "recordedRelease": releases["correct"],
         "supersededRelease": None}]
    past = api(query, {"r": releases["hanoi"]})["entry"]["history"]
    assert [h["name"] for h in past] == ["Quận Ba Đình"]


def test_resolve_at_release(api: Api, write: Write) -> None:
    write(hanoi)
    merged = write(lambda s: publish(s, [
        {"op": "merge", "list": "admin-units", "sources": ["00001", "00004"],
         "target": {"code": "00001", "name": "Phường Mới", "type": "Phường", "parent": "001"}},
    ], effective="2025-07-01"))
    query = '''query($r: Int) { resolve(list: "admin-units", code: "00004", asOf: "2025-08-01",
                atRelease: $r) { status successors { entry { code name } } } }'''
    assert api(query, {"r": merged})["resolve"] == {
        "status": "ENDED", "successors": [{"entry": {"code": "00001", "name": "Phường Mới"}}]}
    # Release 2 knew nothing of the merge: the code was simply active.
    assert api(query, {"r": merged - 1})["resolve"] == {"status": "ACTIVE", "successors": []}


@pytest.mark.parametrize("release", [0, -1, 99])
def test_at_release_out_of_range_is_a_validation_error(api: Api, releases: dict[str, int],
                                                       release: int) -> None:
    [error] = api.errors(NAME, {"code": "001", "atRelease": release})
    assert error["extensions"]["code"] == "validation"
    assert (error["extensions"]["field"], error["extensions"]["rule"]) == ("atRelease", "range")
    assert error["path"] == ["entry"]


@pytest.mark.parametrize("day", ["2025-13-01", "20250701", "2025-W27-2"])
def test_bad_date_is_refused_by_the_schema(api: Api, releases: dict[str, int],
                                           day: str) -> None:
    [error] = api.errors(NAME, {"code": "001", "asOf": day})
    assert "asOf" in error["message"] and day in error["message"], error
