"""Persisted queries in the APQ wire format: registered by POST or GET, asked by hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from registry.cli import app as cli_app
from tests.conftest import Database
from tests.factories import hanoi
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]
QUERY = '''query($code: String!) { administrativeUnit(code: $code, asOf: "2025-08-01") {
  code name } }'''


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def extensions(key: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": key}}


def get(api: Api, key: str, variables: dict[str, Any] | None = None,
        query: str | None = None, **headers: str) -> httpx.Response:
    params = {"extensions": json.dumps(extensions(key))}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    if query is not None:
        params["query"] = query
    return api.request("GET", "/graphql", params=params,
                       headers={"Accept": "application/json", **headers})


def post(api: Api, key: str, query: str | None = None,
         variables: dict[str, Any] | None = None, version: int = 1) -> httpx.Response:
    body: dict[str, Any] = {"extensions": extensions(key, version),
                            "variables": variables or {}}
    if query is not None:
        body["query"] = query
    return api.request("POST", "/graphql", json=body)


def stored(database: Database) -> int:
    with database.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM persisted_queries").scalar_one())


def test_an_unknown_hash_asks_for_the_text_as_apq_clients_expect(api: Api) -> None:
    for response in (get(api, sha(QUERY), {"code": "001"}), post(api, sha(QUERY))):
        assert response.status_code == 200
        [error] = response.json()["errors"]
        assert error["message"] == "PersistedQueryNotFound"
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert response.headers["cache-control"] == "no-store"


def test_the_apq_round_trip_by_post_then_get(api: Api, write: Write,
                                             database: Database) -> None:
    write(hanoi)
    key = sha(QUERY)
    assert post(api, key).json()["errors"][0]["message"] == "PersistedQueryNotFound"
    registered = post(api, key, QUERY, {"code": "001"})
    assert registered.status_code == 200, registered.text
    expected = {"administrativeUnit": {"code": "001", "name": "Quận Ba Đình"}}
    assert registered.json() == {"data": expected}
    assert stored(database) == 1
    for _ in range(2):  # the second from this process's memory
        by_hash = get(api, key, {"code": "001"})
        assert by_hash.status_code == 200, by_hash.text
        assert by_hash.json() == {"data": expected}
        assert post(api, key, variables={"code": "001"}).json() == {"data": expected}
    post(api, key, QUERY, {"code": "002"})  # registering again changes nothing
    assert stored(database) == 1


def test_registered_by_get_and_known_to_every_node(make_api: Callable[..., Api],
                                                   write: Write) -> None:
    write(hanoi)
    node_1, node_2 = make_api(), make_api()  # two API nodes on one database
    key = sha(QUERY)
    assert get(node_1, key, {"code": "002"}, query=QUERY).status_code == 200
    answer = get(node_2, key, {"code": "002"})
    assert answer.json()["data"]["administrativeUnit"]["name"] == "Quận Hoàn Kiếm"


def test_a_wrong_hash_is_refused_naming_the_field(api: Api, database: Database) -> None:
    for response in (post(api, "0" * 64, QUERY), get(api, "0" * 64, query=QUERY)):
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["message"].startswith("extensions.persistedQuery.sha256Hash: is not the "
                                           "SHA-256 of the query")
        assert error["extensions"]["field"] == "extensions.persistedQuery.sha256Hash"
        assert error["extensions"]["rule"] == "hash_mismatch"
    assert stored(database) == 0


@pytest.mark.parametrize(("key", "version", "code", "field"), [
    ("abc", 1, "validation", "extensions.persistedQuery.sha256Hash"),
    (None, 2, "PERSISTED_QUERY_NOT_SUPPORTED", "extensions.persistedQuery.version"),
])
def test_a_malformed_extension_is_refused(api: Api, key: str | None, version: int,
                                          code: str, field: str) -> None:
    response = post(api, key or sha(QUERY), QUERY, version=version)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert response.json()["errors"][0]["extensions"]["field"] == field


@pytest.mark.parametrize(("document", "rule"), [
    ("{ nope }", "graphql"),
    ("{ codeLists { key }", "graphql"),
    ("{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }", "too_many_aliases"),
])
def test_only_valid_documents_are_registered(api: Api, database: Database, document: str,
                                             rule: str) -> None:
    response = post(api, sha(document), document)
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["message"].startswith("query: ")
    assert error["extensions"]["field"] == "query" and error["extensions"]["rule"] == rule
    assert stored(database) == 0


def test_an_oversize_query_is_refused(make_api: Callable[..., Api], database: Database,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MAX_GRAPHQL_PERSISTED_BYTES", "40")
    api = make_api()
    response = post(api, sha(QUERY), QUERY)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "too_large", "field": "query", "rule": "max_bytes",
                                   "limit": 40}
    assert "REGISTRY_MAX_GRAPHQL_PERSISTED_BYTES" in error["message"]
    assert stored(database) == 0


def test_a_full_store_says_so(make_api: Callable[..., Api], database: Database,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MAX_GRAPHQL_PERSISTED", "1")
    api = make_api()
    first, second = "{ codeLists { key } }", "{ releases(first: 1) { nodes { number } } }"
    assert post(api, sha(first), first).status_code == 200
    full = post(api, sha(second), second)
    assert full.status_code == 507
    [error] = full.json()["errors"]
    assert error["extensions"]["code"] == "persisted_query_store_full"
    assert "REGISTRY_MAX_GRAPHQL_PERSISTED" in error["message"]
    assert post(api, sha(first), first).status_code == 200  # a known one still registers
    assert stored(database) == 1


def test_a_query_over_get_needs_a_token_when_reads_do(make_api: Callable[..., Api],
                                                       write: Write) -> None:
    write(hanoi)
    api = make_api(anonymous_read=False)
    response = api.request("GET", "/graphql", params={"query": "{ codeLists { key } }"},
                           headers={"Accept": "text/html"})
    assert response.status_code == 401
    assert "text/html" in api.request("GET", "/graphql",
                                      headers={"Accept": "text/html"}).headers["content-type"]


def test_persist_command_registers_ahead_of_time(api: Api, write: Write, database: Database,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write(hanoi)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database.url)
    good, bad = tmp_path / "unit.graphql", tmp_path / "bad.graphql"
    good.write_text(QUERY, "utf-8")
    bad.write_text("{ nope }", "utf-8")
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["graphql", "persist", str(good), str(bad)])
    assert refused.exit_code == 1 and "bad.graphql: query: does not validate" in refused.output
    assert stored(database) == 0  # all or nothing
    done = runner.invoke(cli_app, ["graphql", "persist", str(good)])
    assert done.exit_code == 0, done.output
    assert done.stdout.split() == [sha(QUERY), str(good)]
    again = runner.invoke(cli_app, ["graphql", "persist", str(good)])
    assert "already registered" in again.stdout
    answer = get(api, sha(QUERY), {"code": "001"})
    assert answer.json()["data"]["administrativeUnit"]["name"] == "Quận Ba Đình"
