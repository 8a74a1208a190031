"""Hostile and broken requests are refused before they run; bugs are masked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from graphql import get_introspection_query

from tests.factories import hanoi
from tests.graphql.conftest import Api, Statements

Write = Callable[[Callable[..., Any]], Any]


@pytest.fixture(autouse=True)
def _data(write: Write) -> None:
    write(hanoi)


def _refused(api: Api, statements: Callable[[], Statements], query: str,
             variables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Errors of a request that must not reach the database at all."""
    with statements() as counted:
        response = api.post(query, variables)
    body = response.json()
    assert body.get("errors"), body
    assert body.get("data") is None, body
    assert counted.count == 0, counted.sql
    return body["errors"]  # type: ignore[no-any-return]


def test_deep_nesting(api: Api, statements: Callable[[], Statements]) -> None:
    nested = "code " + "parent { code " * 14 + "}" * 14
    errors = _refused(api, statements,
                      f'{{ administrativeUnit(code: "00001") {{ {nested} }} }}')
    assert any("exceeds maximum operation depth" in e["message"] for e in errors)
    # Ten levels are fine.
    fine = "code " + "parent { code " * 3 + "}" * 3
    assert api(f'{{ administrativeUnit(code: "00001") {{ {fine} }} }}')["administrativeUnit"]


def test_alias_bomb(api: Api, statements: Callable[[], Statements]) -> None:
    aliases = " ".join(f"a{i}: release {{ number }}" for i in range(200))
    error, *_ = _refused(api, statements, f"{{ {aliases} }}")
    assert "aliases found" in error["message"]


def test_token_limit(api: Api, statements: Callable[[], Statements]) -> None:
    fields = " ".join("__typename" for _ in range(3000))
    error, *_ = _refused(api, statements, f"{{ {fields} }}")
    assert "token limit" in error["message"].lower() or "tokens" in error["message"].lower()


@pytest.mark.parametrize("first", [0, 101, 100_000, -5])
def test_huge_or_empty_first(api: Api, statements: Callable[[], Statements], first: int) -> None:
    query = f'{{ entries(list: "admin-units", first: {first}) {{ nodes {{ code }} }} }}'
    literal, *_ = _refused(api, statements, query)
    variable, *_ = _refused(api, statements,
                          'query($n: Int!) { entries(list: "admin-units", first: $n) '
                          '{ nodes { code } } }', {"n": first})
    for error in (literal, variable):
        # The field and its argument named, as a validation error, not "too costly".
        assert error["message"] == f"entries(first): must be between 1 and 100, not {first}"
        assert error["extensions"] == {"code": "validation", "field": "first",
                                       "rule": "range"}


def test_first_is_required(api: Api, statements: Callable[[], Statements]) -> None:
    error, *_ = _refused(api, statements, '{ entries(list: "admin-units") { nodes { code } } }')
    assert "first" in error["message"]


def test_cost_of_nested_connections(api: Api, statements: Callable[[], Statements]) -> None:
    query = '''{ administrativeUnits(first: 100) { nodes { children(first: 100) { nodes {
        children(first: 100) { nodes { code } } } } } } }'''
    error, *_ = _refused(api, statements, query)
    assert "more than 25000 fields" in error["message"]
    assert error["extensions"]["code"] == "too_costly"
    # Through fragments too.
    fragment = '''fragment Kids on Entry { children(first: 100) { nodes { code
        children(first: 100) { nodes { code } } } } }
        { administrativeUnits(first: 100) { nodes { ...Kids } } }'''
    assert "more than" in _refused(api, statements, fragment)[0]["message"]
    cheap = ('{ administrativeUnits(first: 10) { nodes { children(first: 10) '
             '{ nodes { code } } } } }')
    assert api(cheap)["administrativeUnits"]["nodes"]


@pytest.mark.parametrize("document", ["{ entry(", "query { }", "{ nonsense }",
                                      "mutation { nope }", "{ entry(list: 1) { code } }"])
def test_malformed_documents(api: Api, statements: Callable[[], Statements],
                             document: str) -> None:
    [error, *_] = _refused(api, statements, document)
    assert error["message"]


def test_malformed_http(api: Api) -> None:
    response = api.request("POST", "/graphql", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert api.request("POST", "/graphql", json={"variables": {}}).status_code == 400


def test_introspection_abuse(api: Api, statements: Callable[[], Statements]) -> None:
    deep = ("{ __schema { types { fields { type { fields { type { fields { type { name } } } } } }"
            " } } }")
    error, *_ = _refused(api, statements, deep)
    assert "introspection depth" in error["message"]
    aliases = " ".join(f"s{i}: __schema {{ types {{ name }} }}" for i in range(100))
    assert "aliases" in _refused(api, statements, f"{{ {aliases} }}")[0]["message"]
    # GraphiQL's own introspection query still works.
    schema = api(get_introspection_query(descriptions=True))["__schema"]
    assert any(t["name"] == "AdministrativeUnit" for t in schema["types"])


def test_batching_is_off(api: Api) -> None:
    response = api.request("POST", "/graphql", json=[{"query": "{ release { number } }"},
                                                     {"query": "{ release { number } }"}])
    assert response.status_code == 400


def test_batching_can_be_allowed(make_api: Callable[..., Api],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_GRAPHQL_BATCH", "2")
    api = make_api()
    batch = [{"query": "{ release { number } }"},
             {"query": '{ codeList(key: "agencies") { key } }'}]
    two = api.request("POST", "/graphql", json=batch)
    assert two.status_code == 200
    assert [r["data"] for r in two.json()] == [{"release": {"number": 2}},
                                               {"codeList": {"key": "agencies"}}]
    three = api.request("POST", "/graphql", json=[{"query": "{ release { number } }"}] * 3)
    assert three.status_code == 400


def test_no_mutation_over_get(api: Api, statements: Callable[[], Statements]) -> None:
    # A link or an <img> must not be able to write.
    with statements() as counted:
        response = api.request("GET", "/graphql", params={
            "query": 'mutation { submitChangeSet(changeSetId: 1) { __typename } }'})
    assert response.status_code in (400, 405)
    assert counted.count == 0


def test_get_reads_and_graphiql(api: Api) -> None:
    response = api.request("GET", "/graphql", params={"query": "{ release { number } }"})
    assert response.status_code == 200 and response.json()["data"]["release"]["number"] == 2
    page = api.request("GET", "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_anonymous_read_can_be_switched_off(make_api: Callable[..., Api],
                                            token: Callable[..., str]) -> None:
    closed = make_api(anonymous_read=False)
    response = closed.post("{ release { number } }")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "unauthenticated"
    secret = token("reader-r", "reader")
    assert closed("{ release { number } }", token=secret)["release"]["number"] == 2
    page = closed.request("GET", "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200  # GraphiQL loads; its queries need the token


def test_unexpected_errors_are_masked(api: Api, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*args: Any) -> Any:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr("registry.services.graph_reads.resolve", bug)
    response = api.post('{ resolve(list: "admin-units", code: "01") { code } }')
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert "secret" not in response.text
    assert any("unexpected error" in r.getMessage() for r in caplog.records)
    # The server goes on answering.
    assert api('{ entry(list: "admin-units", code: "01") { code } }') == {"entry": {"code": "01"}}
