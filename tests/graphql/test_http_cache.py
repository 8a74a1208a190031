"""The caching headers of GraphQL answers (registry.graphql.http_cache), without a proxy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.factories import hanoi, publish
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]
PINNED = '{ administrativeUnit(code: "001", asOf: "2025-08-01", atRelease: 2) { name } }'
LATEST = '{ administrativeUnit(code: "001", asOf: "2025-08-01") { name } }'
IMMUTABLE = "public, max-age=31536000, immutable"


def get(api: Api, query: str, variables: dict[str, Any] | None = None,
        **headers: str) -> httpx.Response:
    params = {"query": query}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return api.request("GET", "/graphql", params=params,
                       headers={"Accept": "application/json", **headers})


RELEASES: dict[str, int] = {}


@pytest.fixture
def api(make_api: Callable[..., Api], write: Write) -> Api:
    first = write(hanoi)
    assert first == 2  # after the built-in lists' release; PINNED names it
    RELEASES["latest"] = write(lambda s: publish(s, [
        {"op": "rename", "list": "admin-units", "code": "001", "name": "Quận Ba Đình Mới"}],
        effective="2025-07-01"))
    return make_api()


def test_an_answer_pinned_to_a_release_and_a_date_is_immutable(api: Api) -> None:
    first = get(api, PINNED)
    assert first.json() == {"data": {"administrativeUnit": {"name": "Quận Ba Đình"}}}
    assert first.headers["cache-control"] == IMMUTABLE
    assert first.headers["vary"] == "Accept-Encoding"
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "x-registry-release" not in first.headers
    again = get(api, PINNED, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == IMMUTABLE
    assert get(api, PINNED, **{"If-None-Match": '"other"'}).status_code == 200


def test_variables_pin_too_unless_null(api: Api) -> None:
    query = '''query($r: Int, $d: Date) { administrativeUnit(code: "001", asOf: $d,
        atRelease: $r) { name } }'''
    assert get(api, query, {"r": 2, "d": "2025-08-01"}).headers["cache-control"] == IMMUTABLE
    assert get(api, query, {"r": None, "d": "2025-08-01"}).headers["cache-control"] \
        == "public, max-age=5"
    defaulted = '''query($r: Int = 2) { administrativeUnit(code: "001", asOf: "2025-08-01",
        atRelease: $r) { name } }'''
    assert get(api, defaulted).headers["cache-control"] == IMMUTABLE


def test_the_latest_release_is_kept_briefly_and_named(api: Api,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    answer = get(api, LATEST)
    assert answer.json()["data"]["administrativeUnit"]["name"] == "Quận Ba Đình Mới"
    assert answer.headers["cache-control"] == "public, max-age=5"
    assert answer.headers["x-registry-release"] == str(RELEASES["latest"])
    assert answer.headers["etag"]
    monkeypatch.setenv("REGISTRY_GRAPHQL_MAX_AGE", "30")
    assert get(api, LATEST).headers["cache-control"] == "public, max-age=30"


@pytest.mark.parametrize("query", [
    # without asOf the answer moves at midnight (its default is today)
    '{ administrativeUnit(code: "001", atRelease: 2) { name } }',
    # one root field of two is not pinned
    PINNED.replace("{ administrativeUnit", "{ b: administrativeUnit(code: \"002\") { name } "
                   "administrativeUnit", 1),
    # a change set's events move without a release
    '{ administrativeUnit(code: "001", asOf: "2025-08-01", atRelease: 2) '
    '{ changeSet { title } } }',
    # code lists take no atRelease
    '{ codeLists { key } }',
])
def test_what_is_not_pinned_is_kept_briefly(api: Api, query: str) -> None:
    answer = get(api, query)
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    assert answer.headers["cache-control"] == "public, max-age=5"


@pytest.mark.parametrize("query", [
    "{ viewer { role } }",
    "{ changeSets(first: 5) { nodes { title } } }",
    '{ administrativeUnit(code: "001", atRelease: 99) { name } }',  # an error
    '{ administrativeUnit(code: "001") { name } viewer { role } }',
])
def test_change_sets_viewer_and_errors_are_never_stored(api: Api, query: str) -> None:
    answer = get(api, query)
    assert answer.headers["cache-control"] == "no-store"
    assert "etag" not in answer.headers


def test_a_request_with_a_token_is_private(api: Api, token: Callable[..., str],
                                           make_api: Callable[..., Api]) -> None:
    secret = token("doc", "reader")
    answer = get(api, PINNED, Authorization=f"Bearer {secret}")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-store"
    closed = make_api(anonymous_read=False)
    assert get(closed, PINNED, Authorization=f"Bearer {secret}").headers["cache-control"] \
        == "private, no-store"


def test_refusals_are_never_stored(api: Api) -> None:
    refused = api.request("GET", "/graphql", params={"variables": "[]", "query": "{ a }"})
    assert refused.status_code == 400 and refused.headers["cache-control"] == "no-store"
    mutation = get(api, 'mutation { withdrawChangeSet(changeSetId: 1) { __typename } }')
    assert mutation.status_code == 400 and mutation.headers["cache-control"] == "no-store"


def test_post_answers_name_their_release(api: Api) -> None:
    for _ in range(2):  # computed, then from the release-keyed cache
        answer = api.post(LATEST)
        assert answer.headers["x-registry-release"] == str(RELEASES["latest"])
        assert "cache-control" not in answer.headers
    assert "x-registry-release" not in api.post("{ viewer { role } }").headers
    assert "x-registry-release" not in api.post(
        '{ administrativeUnit(code: "001", atRelease: 99) { name } }').headers
