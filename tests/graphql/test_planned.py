"""Planned execution answers byte for byte as the ordinary path, on the bundled data.

Two apps on one database loaded with the bundled lists: one plans (the default), one
answers everything field by field (``REGISTRY_GRAPHQL_PLANNED=0``). Every document here is
asked of both with many keys; the status and the body must be identical, and the
``registry_graphql_path_total`` counter proves the first app really planned the ones it
should (and did not plan the others).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from registry.app import create_app
from registry.config import Settings
from registry.db import make_engine
from registry.graphql.metrics import PATHS
from tests.conftest import Templates, run_async

DISTRICT_DAY = "2025-06-30"

Q1 = """query Q1($code: String!, $asOf: Date!) {
  entry(list: "admin-units", code: $code, asOf: $asOf) {
    code name type
    parent { code name type }
    children(first: 50) { nodes { code name type } }
  }
}"""
Q2 = """query Q2($q: String!, $asOf: Date!) {
  entries(list: "admin-units", search: $q, asOf: $asOf, first: 100) {
    nodes { code name type parent { name } }
    pageInfo { hasNextPage }
  }
}"""
Q3 = """query Q3($code: String!, $asOf: Date!) {
  resolve(list: "admin-units", code: $code, asOf: $asOf) {
    status endedOn entry { code name }
    successors { isDefault kinds entry { code name type } }
  }
}"""
# Every field the planner knows, with aliases and __typename at every level.
EVERYTHING = """query All($code: String!, $asOf: Date, $release: Int, $first: Int!) {
  __typename
  one: administrativeUnit(code: $code, asOf: $asOf, atRelease: $release) {
    __typename id list code name shortName nameEn type level status validFrom validTo
    attributes recordedRelease asOf
    up: parent { __typename id code parent { code name asOf } }
    children(first: $first, status: null) {
      __typename
      edges { __typename cursor node { code status validTo parent { code } } }
      nodes { code }
      pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
  again: entry(list: "admin-units", code: $code, asOf: $asOf) { code }
  resolve(list: "admin-units", code: $code, asOf: $asOf, atRelease: $release) {
    __typename list code asOf status endedOn dividedOn ambiguous
    entry { __typename code }
    successors { __typename isDefault kinds share entry { code asOf } }
  }
}"""
PAGES = """query Pages($after: String, $parent: String, $level: String, $type: String,
                   $status: String, $search: String) {
  administrativeUnits(first: 7, after: $after, parent: $parent, level: $level, type: $type,
                      status: $status, search: $search, asOf: "2025-06-30") {
    edges { cursor node { code name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
TYPED = """{
  agencies(first: 20) { nodes { __typename code name address email phone website } }
  procedures(first: 20) { nodes { __typename code fieldCode fieldName levels onlineLevel
                                  processingTime fees attributes } }
  ethnic: entries(list: "ethnic-groups", first: 5) { nodes { __typename code name } }
  agency(code: "nope") { code }
}"""
# Not planned: each must go the ordinary way (and still answer the same).
ORDINARY = [
    ('{ entry(list: "admin-units", code: "01") { code history { name } } }', {}),
    ('{ entry(list: "admin-units", code: "01") { ...F } } fragment F on Entry { code }', {}),
    ('{ entry(list: "admin-units", code: "01") { code @include(if: true) } }', {}),
    ('{ entry(list: "admin-units", code: "01") { code code: name } }', {}),
    ('{ codeLists { key } }', {}),
]
# Planned documents whose requests fail: the ordinary path must word the error.
FAILING = [
    (Q3, {"code": "99999999", "asOf": DISTRICT_DAY}),           # no such code
    (Q1, {"code": "01", "asOf": "20250630"}),                   # not YYYY-MM-DD
    (Q1, {"code": "01"}),                                       # missing variable
    (Q1, {"code": "0\u00001", "asOf": DISTRICT_DAY}),           # NUL in a variable
    (EVERYTHING, {"code": "01", "release": 99999, "first": 5}),  # release not published
    (EVERYTHING, {"code": "01", "first": 0}),                   # first out of range
    (EVERYTHING, {"code": "01", "first": 1000}),                # over the cost limit
    (PAGES, {"after": "not-a-cursor"}),                         # forged cursor
    ('{ entries(list: "admin-unit", first: 5) { nodes { code } } }', {}),  # unknown list
    ('{ entry(list: "admin-units", code: "01") { children(first: 5, after: "x") '
     '{ nodes { code } } } }', {}),                             # children after a cursor
]


class Both:
    """The same database behind a planning app and an ordinary one."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("REGISTRY_GRAPHQL_CACHE", "0")
        self.planning = create_app(Settings(database_url=url, anonymous_read=True))
        monkeypatch.setenv("REGISTRY_GRAPHQL_PLANNED", "0")
        self.ordinary = create_app(Settings(database_url=url, anonymous_read=True))
        monkeypatch.delenv("REGISTRY_GRAPHQL_PLANNED")

    def ask(self, query: str, variables: dict[str, Any]) -> list[tuple[int, bytes]]:
        """(status, body) from each app, planning app first."""
        async def send() -> list[tuple[int, bytes]]:
            out = []
            for app in (self.planning, self.ordinary):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://r") as c:
                    r = await c.post("/graphql", json={"query": query, "variables": variables})
                    out.append((r.status_code, r.content))
            return out

        return run_async(send())


@pytest.fixture(scope="module")
def both(templates: Templates, backend: str) -> Iterator[Both]:
    monkeypatch = pytest.MonkeyPatch()
    url = templates.fresh_url(backend, "bundled")
    apps = Both(url, monkeypatch)
    yield apps
    monkeypatch.undo()
    for app in (apps.planning, apps.ordinary):
        app.state.engine.dispose()
    make_engine(url).dispose()


@pytest.fixture(scope="module")
def keys(both: Both) -> dict[str, list[str]]:
    """Codes to ask: districts and provinces of 2025-06-30, ended and divided communes."""
    engine = both.planning.state.engine

    def codes(sql: str) -> list[str]:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text(sql), {"d": DISTRICT_DAY})]

    current = ("superseded_release IS NULL AND valid_from <= :d "
               "AND (valid_to IS NULL OR valid_to > :d)")
    return {
        "districts": codes(f"SELECT code FROM entry_versions WHERE level = 'district' "
                           f"AND {current} ORDER BY code LIMIT 40"),
        "provinces": codes(f"SELECT code FROM entry_versions WHERE level = 'province' "
                           f"AND {current} ORDER BY code LIMIT 5"),
        "ended": codes("SELECT DISTINCT from_code FROM lineage_links "
                       "ORDER BY from_code LIMIT 60"),
    }


def _planned() -> float:
    return PATHS.labels("planned")._value.get()  # type: ignore[no-any-return]


def _same(both: Both, query: str, variables: dict[str, Any], plannable: bool) -> bytes:
    """Ask both apps; a plannable document is planned exactly when it answers without
    errors (with errors, the ordinary path words them)."""
    before = _planned()
    (status, body), (ordinary_status, ordinary_body) = both.ask(query, variables)
    assert (status, body) == (ordinary_status, ordinary_body), (query, variables)
    planned = plannable and b'"errors"' not in body
    assert _planned() - before == (1 if planned else 0), (query, variables, body[:300])
    return body


def test_the_three_bench_questions(both: Both, keys: dict[str, list[str]]) -> None:
    assert len(keys["districts"]) == 40 and len(keys["ended"]) == 60
    children = 0
    for code in keys["districts"]:
        body = _same(both, Q1, {"code": code, "asOf": DISTRICT_DAY}, True)
        children += body.count(b'"type"')
    assert children > 40 * 5  # the districts really have children
    for term in ("phuong", "Hà", "thanh", "xã tân", "HOA", "sơn", "zzz", "_", "%"):
        _same(both, Q2, {"q": term, "asOf": DISTRICT_DAY}, True)
    ended = 0
    for code in keys["ended"]:
        body = _same(both, Q3, {"code": code, "asOf": "2025-07-01"}, True)
        ended += b'"ENDED"' in body
    assert ended > 30


def test_every_planned_field_on_many_codes(both: Both, keys: dict[str, list[str]]) -> None:
    codes = keys["provinces"] + keys["districts"][:10] + keys["ended"][:20]
    before = _planned()
    for code in codes:
        for day, release in (("2025-06-30", None), ("2025-07-01", None), ("2020-01-01", None),
                             ("2025-07-01", 30), ("2025-07-01", 5), (None, None)):
            _same(both, EVERYTHING, {"code": code, "asOf": day, "release": release,
                                     "first": 30}, True)
    assert _planned() - before > len(codes) * 3  # most answer without errors


FAMILY = """query Family($list: String!, $code: String!, $first: Int!) {
  entry(list: $list, code: $code, asOf: "2025-06-30") {
    code parent { code name } children(first: $first) {
      edges { cursor node { code name parent { code } } } pageInfo { hasNextPage } } } }"""


def test_families_in_one_statement(both: Both, keys: dict[str, list[str]]) -> None:
    """The entry, its parent and a page of its children read together (graph_reads.family),
    with pages cut short and not."""
    for code in keys["provinces"] + keys["districts"][:10]:
        for first in (1, 3, 50):
            body = _same(both, FAMILY, {"list": "admin-units", "code": code, "first": first},
                         True)
            assert 0 < body.count(b'"cursor"') <= first


def test_pages_filters_and_cursors(both: Both, keys: dict[str, list[str]]) -> None:
    province = keys["provinces"][0]
    for filters in ({}, {"parent": province}, {"level": "province"},
                    {"type": "Phường"}, {"status": "retired"}, {"status": None},
                    {"search": "an"}, {"search": "Đông"}):
        after = None
        for _ in range(3):  # three pages, each continuing from the last cursor
            body = _same(both, PAGES, {**filters, "after": after}, True)
            if b'"endCursor":null' in body:
                break
            after = body.split(b'"endCursor":"')[1].split(b'"')[0].decode()
    _same(both, TYPED, {}, True)


@pytest.mark.parametrize("case", range(len(FAILING)))
def test_failures_are_worded_by_the_ordinary_path(both: Both, case: int) -> None:
    query, variables = FAILING[case]
    body = _same(both, query, variables, True)
    assert b'"errors"' in body


@pytest.mark.parametrize("case", range(len(ORDINARY)))
def test_unknown_shapes_go_the_ordinary_way(both: Both, case: int) -> None:
    query, variables = ORDINARY[case]
    _same(both, query, variables, False)
