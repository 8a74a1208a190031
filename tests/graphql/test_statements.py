"""The number of SQL statements of a nested query does not grow with the data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Database
from tests.graphql import data
from tests.graphql.conftest import Api, Statements

Write = Callable[[Callable[..., Any]], Any]

PROVINCE = '''{ administrativeUnit(code: "79", asOf: "2025-06-01") {
  name type
  children(first: 100) { nodes {
    code name type
    parent { code name type }
    successors { kind share isDefault entry { code name type } }
  } } } }'''

# Exactly what the query costs (after the process has learnt the list ids): the province;
# its children (one windowed statement); their lineage links; the successor entries. On
# SQLite the request's transaction adds its BEGIN. Parents come from the loader's cache.
EXPECTED = {"postgresql": 4, "sqlite": 5}


def _count(api: Api, statements: Callable[[], Statements]) -> tuple[int, dict[str, Any]]:
    api('{ entry(list: "admin-units", code: "79") { code } }')  # learn the list ids
    with statements() as counted:
        got = api(PROVINCE)
    return counted.count, got


@pytest.mark.parametrize("communes", [5, 40])
def test_province_with_its_communes(communes: int, write: Write, database: Database,
                                    make_api: Callable[..., Api],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_GRAPHQL_CACHE", "0")  # count the work, not the cache
    api = make_api()
    write(lambda s: data.communes(s, communes))
    count, got = _count(api, lambda: Statements(api.app.state.engine))
    nodes = got["administrativeUnit"]["children"]["nodes"]
    assert len(nodes) == communes
    assert all(n["parent"]["code"] == "79" and len(n["successors"]) == 1 for n in nodes)
    assert nodes[0]["successors"][0]["entry"]["code"] == "79001"
    assert count == EXPECTED[database.backend]


def test_references_are_batched(write: Write, database: Database, make_api: Callable[..., Api],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_GRAPHQL_CACHE", "0")
    api = make_api()
    write(data.world)
    query = '''{ procedures(first: 10) { nodes { code implementingAgencies { code
        adminUnit { code parent { code } } } competentAgency { code } } } }'''
    api('{ entry(list: "admin-units", code: "01") { code } }')
    with Statements(api.app.state.engine) as counted:
        got = api(query)["procedures"]["nodes"]
    assert [len(n["implementingAgencies"]) for n in got] == [2, 1]
    # Procedures; agencies (implementing and competent in one batch); their units.
    assert counted.count == EXPECTED[database.backend] - 1


# A planned shape: the entry, its parent and its children's first page, with the children's
# parents (the entry itself); and a search page with its parents.
FAMILY = '''query F($code: String!) { entry(list: "admin-units", code: $code, asOf: "2025-06-01") {
  code parent { code name } children(first: 50) { nodes { code parent { code } } } } }'''
SEARCH = '''{ entries(list: "admin-units", search: "xã số", first: 100, asOf: "2025-06-01") {
  nodes { code parent { code name } } } }'''
# On PostgreSQL one statement for the family (entry, parent and children together) and two
# for the search (the page, then the parents in one batch); SQLite adds BEGIN to each.
PLANNED = {"postgresql": (1, 1, 2), "sqlite": (2, 2, 3)}


@pytest.mark.parametrize("communes", [5, 40])
def test_planned_reads_cost_a_fixed_number_of_statements(
        communes: int, write: Write, database: Database, make_api: Callable[..., Api],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_GRAPHQL_CACHE", "0")
    api = make_api()
    write(lambda s: data.communes(s, communes))
    api('{ entry(list: "admin-units", code: "79") { code } }')  # learn the list ids
    with Statements(api.app.state.engine) as province:
        got = api(FAMILY, {"code": "79"})["entry"]
    assert got["parent"] is None
    assert [n["code"] for n in got["children"]["nodes"]] == [
        f"79{i:03d}" for i in range(communes)]
    assert {n["parent"]["code"] for n in got["children"]["nodes"]} == {"79"}
    with Statements(api.app.state.engine) as commune:
        got = api(FAMILY, {"code": "79001"})["entry"]
    assert got["parent"] == {"code": "79", "name": "Tỉnh Thử 79"}
    assert got["children"]["nodes"] == []
    with Statements(api.app.state.engine) as search:
        nodes = api(SEARCH)["entries"]["nodes"]
    assert len(nodes) == communes and {n["parent"]["code"] for n in nodes} == {"79"}
    assert (province.count, commune.count, search.count) == PLANNED[database.backend], (
        province.sql, commune.sql, search.sql)
