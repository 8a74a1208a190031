"""Keyset pagination never skips or repeats, even when names collide or data changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import publish, unit
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]
NAMES = ["Xã An Bình", "Xã An Bình", "Phường An Bình", "Xã Tân An", "Xã An Bình",
         "Thị trấn An Bình", "Xã Bình An", "XÃ AN BÌNH"]


@pytest.fixture
def province(write: Write) -> list[str]:
    """Province 80 with 40 communes whose names collide a lot; returns their codes."""
    codes = [f"80{i:03d}" for i in range(40)]
    ops = [unit("80", "Tỉnh Thử", "Tỉnh")]
    for i, code in enumerate(codes):
        name = NAMES[i % len(NAMES)]
        kind = next(t for t in ("Phường", "Thị trấn", "Xã") if name.lower().startswith(t.lower()))
        ops.append(unit(code, name, kind, "80"))
    write(lambda s: publish(s, ops))
    return codes


def _walk(api: Api, query: str, root: str, variables: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(100):
        page = api(query, {**variables, "after": after})[root]
        seen += [edge["node"]["code"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    raise AssertionError("pagination did not end")


SEARCH = '''query($q: String, $first: Int!, $after: String) {
  entries(list: "admin-units", search: $q, first: $first, after: $after) {
    edges { cursor node { code name } } pageInfo { hasNextPage endCursor } } }'''


@pytest.mark.parametrize("first", [1, 3, 7, 100])
def test_search_pages_with_colliding_names(api: Api, province: list[str], first: int) -> None:
    seen = _walk(api, SEARCH, "entries", {"q": "an binh", "first": first})
    everything = api(SEARCH, {"q": "an binh", "first": 100, "after": None})["entries"]
    expected = [e["node"]["code"] for e in everything["edges"]]
    assert len(expected) == len(set(expected)) > 20
    assert seen == expected  # same order, nothing skipped, nothing repeated
    names = [e["node"]["name"] for e in everything["edges"]]
    assert "XÃ AN BÌNH" in names and "Xã Tân An" not in names


@pytest.mark.parametrize("first", [1, 6, 40])
def test_code_order_pages(api: Api, province: list[str], first: int) -> None:
    query = '''query($first: Int!, $after: String) {
      administrativeUnits(parent: "80", first: $first, after: $after) {
        edges { cursor node { code } } pageInfo { hasNextPage endCursor } } }'''
    assert _walk(api, query, "administrativeUnits", {"first": first}) == province


def test_children_pages(api: Api, province: list[str]) -> None:
    query = '''query($after: String) { administrativeUnit(code: "80") {
        children(first: 9, after: $after) {
          edges { cursor node { code } } pageInfo { hasNextPage endCursor } } } }'''
    seen: list[str] = []
    after = None
    while True:
        page = api(query, {"after": after})["administrativeUnit"]["children"]
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == province


def test_publishing_between_pages_skips_and_repeats_nothing(api: Api, province: list[str],
                                                            write: Write) -> None:
    query = '''query($after: String) {
      administrativeUnits(parent: "80", first: 10, after: $after) {
        edges { node { code } } pageInfo { hasNextPage endCursor } } }'''
    page = api(query, {"after": None})["administrativeUnits"]
    seen = [e["node"]["code"] for e in page["edges"]]
    # A commune before the cursor and one after it appear between two requests.
    write(lambda s: publish(s, [unit("80995", "Xã Mới Sau", "Xã", "80")]))
    after = page["pageInfo"]["endCursor"]
    while after:
        page = api(query, {"after": after})["administrativeUnits"]
        seen += [e["node"]["code"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert seen == [*province, "80995"]
    assert len(seen) == len(set(seen))


def test_forged_and_foreign_cursors_are_refused(api: Api, province: list[str]) -> None:
    [forged] = api.errors(SEARCH, {"q": "an", "first": 2, "after": "!!not-base64!!"})
    assert forged["extensions"] == {"code": "validation", "field": "after", "rule": "cursor"}
    by_code = api('{ entries(list: "admin-units", first: 1) { pageInfo { endCursor } } }')
    cursor = by_code["entries"]["pageInfo"]["endCursor"]
    [foreign] = api.errors(SEARCH, {"q": "an", "first": 2, "after": cursor})
    assert foreign["extensions"]["rule"] == "cursor"
    assert "ordering" in foreign["message"]
