"""The release-keyed response cache: used, and never stale after a publish."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from registry.graphql.routes import view_of
from registry.services.cache import ReleaseCache
from tests.factories import hanoi, publish
from tests.graphql.conftest import Api, Statements

Write = Callable[[Callable[..., Any]], Any]
QUERY = '''query($code: String!) { administrativeUnit(code: $code, asOf: "2025-08-01") {
  name children(first: 10) { nodes { code name } } } }'''


@pytest.fixture(autouse=True)
def _cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_GRAPHQL_CACHE", "1000")


def _served(api: Api, variables: dict[str, Any]) -> tuple[dict[str, Any], int]:
    with Statements(api.app.state.engine) as counted:
        got = api(QUERY, variables)
    return got, counted.count


def test_a_repeated_query_is_served_from_the_cache(make_api: Callable[..., Api],
                                                   write: Write) -> None:
    api = make_api()
    write(hanoi)
    first, cold = _served(api, {"code": "001"})
    again, warm = _served(api, {"code": "001"})
    assert again == first
    assert warm < cold and warm <= 3  # the read of the latest release, nothing else


def test_never_stale_after_a_publish(make_api: Callable[..., Api], write: Write) -> None:
    worker_1, worker_2 = make_api(), make_api()  # two processes' worth of caches
    write(hanoi)
    for api in (worker_1, worker_2):
        assert _served(api, {"code": "001"})[0]["administrativeUnit"]["name"] == "Quận Ba Đình"
        _served(api, {"code": "001"})  # now cached in both
    write(lambda s: publish(s, [
        {"op": "rename", "list": "admin-units", "code": "001", "name": "Phường Ba Đình"},
        {"op": "rename", "list": "admin-units", "code": "00001", "name": "Phường Phúc Xá Mới"},
    ], effective="2025-07-01"))
    for api in (worker_1, worker_2):
        got = _served(api, {"code": "001"})[0]["administrativeUnit"]
        assert got["name"] == "Phường Ba Đình"
        assert got["children"]["nodes"][0]["name"] == "Phường Phúc Xá Mới"


def test_publishing_through_the_api_invalidates(api: Api, write: Write,
                                                token: Callable[..., str]) -> None:
    write(hanoi)
    steward, approver = token("s", "steward", ["admin-units"]), token("a", "approver")
    assert _served(api, {"code": "002"})[0]["administrativeUnit"]["name"] == "Quận Hoàn Kiếm"
    created = api('''mutation { createChangeSet(input: { title: "đổi tên",
        legalBasis: { number: "1/2025", date: "2025-06-01", issuer: "UBND" },
        effectiveDate: "2025-07-01",
        operations: { op: "rename", list: "admin-units", code: "002", name: "Quận Mới" } }) {
        ... on ChangeSetPayload { changeSet { number } } } }''', token=steward)
    number = created["createChangeSet"]["changeSet"]["number"]
    for document, who in (("submitChangeSet", steward), ("approveChangeSet", approver),
                          ("publishChangeSet", approver)):
        api(f'mutation {{ {document}(changeSetId: {number}) {{ __typename }} }}', token=who)
    assert _served(api, {"code": "002"})[0]["administrativeUnit"]["name"] == "Quận Mới"


def test_change_sets_and_viewer_are_not_cached(api: Api, write: Write,
                                               token: Callable[..., str]) -> None:
    write(hanoi)
    query = "{ changeSets(first: 5, status: DRAFT) { nodes { title } } }"
    assert api(query)["changeSets"]["nodes"] == []
    assert api(query)["changeSets"]["nodes"] == []
    steward = token("s", "steward", ["admin-units"])
    api('''mutation { createChangeSet(input: { title: "nháp",
        legalBasis: { number: "1/2025", date: "2025-06-01", issuer: "UBND" },
        effectiveDate: "2025-07-01" }) { __typename } }''', token=steward)
    # No release was made, yet the draft shows at once.
    assert api(query)["changeSets"]["nodes"] == [{"title": "nháp"}]
    viewer = "{ viewer { name } release { number } }"
    assert api(viewer)["viewer"]["name"] is None
    assert api(viewer, token=steward)["viewer"]["name"] == "s"


def test_errors_are_not_cached(api: Api, write: Write) -> None:
    write(hanoi)
    query = 'query($r: Int) { entry(list: "admin-units", code: "001", atRelease: $r) { name } }'
    assert api.errors(query, {"r": 3})[0]["extensions"]["rule"] == "range"
    write(lambda s: publish(s, [{"op": "rename", "list": "admin-units", "code": "00037",
                                 "name": "Phường Khác"}]))
    assert api(query, {"r": 3})["entry"]["name"] == "Quận Ba Đình"


AGENCY = {"op": "create", "list": "agencies", "code": "000.00.00.G01", "name": "Bộ Công an",
          "type": "Bộ"}


def _cache(api: Api) -> ReleaseCache:
    view = view_of(api.app.routes)
    assert view is not None
    return view.cache


def test_a_release_that_changes_other_lists_keeps_the_answer(make_api: Callable[..., Api],
                                                            write: Write) -> None:
    """An answer about administrative units is still served from the cache after a release
    that only changes agencies, without executing anything but the two small reads."""
    api = make_api()
    write(hanoi)
    first, _ = _served(api, {"code": "001"})
    write(lambda s: publish(s, [AGENCY]))
    again, statements = _served(api, {"code": "001"})
    assert again == first
    # The latest release and the lists changed since the cached one: no GraphQL execution
    # (it reads the unit, its children and their page: several more statements).
    assert statements <= 4 and _cache(api).carried == 1
    assert _served(api, {"code": "001"})[1] <= 3  # filed under the new release now


def test_a_release_that_changes_the_list_drops_the_answer(make_api: Callable[..., Api],
                                                         write: Write) -> None:
    api = make_api()
    write(hanoi)
    _served(api, {"code": "001"})
    write(lambda s: publish(s, [AGENCY]))
    write(lambda s: publish(s, [{"op": "rename", "list": "admin-units", "code": "00001",
                                 "name": "Phường Phúc Xá Mới"}], effective="2025-07-01"))
    got = _served(api, {"code": "001"})[0]["administrativeUnit"]
    assert got["children"]["nodes"][0]["name"] == "Phường Phúc Xá Mới"


@pytest.mark.parametrize(("query", "variables", "changed"), [
    # A cross-list field: procedures' agencies.
    ("""{ procedures(first: 5) { nodes { code implementingAgencies { name } } } }""", {},
     "agencies"),
    # The list named by a variable.
    ("""query($l: String!) { entries(list: $l, first: 5) { nodes { code name } } }""",
     {"l": "agencies"}, "agencies"),
    # Release metadata: any release may change it.
    ("""{ administrativeUnit(code: "001") { name releasedIn { number } } }""", {},
     "procedures"),
    ("""{ codeLists { key release } }""", {}, "procedures"),
])
def test_answers_that_read_what_a_release_changed_are_not_kept(
        make_api: Callable[..., Api], write: Write, query: str, variables: dict[str, Any],
        changed: str) -> None:
    api = make_api()
    write(hanoi)
    write(lambda s: publish(s, [AGENCY]))
    first = api(query, variables)
    cache = _cache(api)
    assert cache.carried == 0
    op = (AGENCY | {"code": "000.00.00.G02", "name": "Bộ Quốc phòng"} if changed == "agencies"
          else {"op": "create", "list": "procedures", "code": "1.000001", "name": "Thủ tục",
                "type": "Thủ tục hành chính", "attributes": {
                    "field_code": "X", "field_name": "Y", "levels": ["central"],
                    "online_level": "full", "implementing_agencies": ["000.00.00.G01"],
                    "competent_agency": "000.00.00.G01"}})
    write(lambda s: publish(s, [op], effective="2025-01-02"))
    api(query, variables)
    assert cache.carried == 0
    if changed == "agencies" and "entries" in query:
        assert api(query, variables) != first
