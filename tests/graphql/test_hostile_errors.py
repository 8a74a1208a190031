"""Broken and racing requests end in a clear error, never in "Unexpected error." or a 500."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from registry.graphql.ids import to_global
from tests.conftest import Database
from tests.factories import hanoi
from tests.graphql.conftest import Api, Statements

Write = Callable[[Callable[..., Any]], Any]

BASIS = {"number": "202/2025/QH15", "date": "2025-06-12", "issuer": "Quốc hội"}
RENAME = {"op": "rename", "list": "admin-units", "code": "00001", "name": "Phường Phúc Xá Mới"}
CREATE = '''mutation($input: CreateChangeSetInput!) { createChangeSet(input: $input) {
  __typename ... on ChangeSetPayload { changeSet { number version } } } }'''
STEP = '''mutation($id: ID!) {{ {name}(changeSetId: $id) {{ __typename
  ... on {payload} {{ changeSet {{ number version status }} }}
  ... on Problem {{ message code }} ... on ValidationError {{ field rule }} }} }}'''


def step(name: str) -> str:
    """The document of one workflow mutation, with its payload and every problem."""
    return STEP.format(name=name, payload="PublishPayload" if name == "publishChangeSet"
                       else "ChangeSetPayload")


@pytest.fixture
def people(write: Write, token: Callable[..., str]) -> dict[str, str]:
    write(hanoi)
    return {"steward": token("steward-a", "steward", ["admin-units"]),
            "approver": token("approver-b", "approver")}


def _data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    [value] = body["data"].values()
    return value


def _approved(api: Api, people: dict[str, str]) -> int:
    created = _data(api.post(CREATE, {"input": {
        "title": "Đổi tên", "legalBasis": BASIS, "effectiveDate": "2025-07-01",
        "operations": RENAME}}, token=people["steward"]))
    number = int(created["changeSet"]["number"])
    assert _data(api.post(step("submitChangeSet"), {"id": number},
                          token=people["steward"]))["__typename"] == "ChangeSetPayload"
    assert _data(api.post(step("approveChangeSet"), {"id": number},
                          token=people["approver"]))["__typename"] == "ChangeSetPayload"
    return number


def _clear(errors: list[dict[str, Any]]) -> dict[str, Any]:
    [error] = errors
    assert error["message"] != "Unexpected error.", error
    return error


HUGE = "99999999999999999999"


def test_huge_ids_are_validation_errors(api: Api, people: dict[str, str],
                                        statements: Callable[[], Statements]) -> None:
    error = _clear(api.errors(f'{{ changeSet(id: "{HUGE}") {{ number }} }}'))
    assert (error["extensions"]["field"], error["extensions"]["rule"]) == ("id", "range")
    for global_id in (to_global("ChangeSet", HUGE), to_global("Release", HUGE),
                      to_global("ChangeSet", "٣"), to_global("Release", "-1")):
        error = _clear(api.errors(f'{{ node(id: "{global_id}") {{ id }} }}'))
        assert error["extensions"]["code"] == "validation"
        error = _clear(api.errors(f'{{ changeSet(id: "{global_id}") {{ number }} }}'))
        assert error["extensions"]["code"] == "validation"
    for name in ("submitChangeSet", "publishChangeSet", "withdrawChangeSet"):
        result = _data(api.post(step(name), {"id": HUGE}, token=people["steward"]))
        assert (result["__typename"], result["field"], result["rule"]) == (
            "ValidationError", "changeSetId", "range")
    assert _clear(api.errors('{ changeSet(id: "2147483648") { number } }'))
    assert api('{ changeSet(id: "2147483647") { number } }') == {"changeSet": None}


@pytest.mark.parametrize("text", ["a\u0000b", "\ud800", "x\udfffy"])
def test_nul_and_lone_surrogates_in_arguments(api: Api, people: dict[str, str],
                                              statements: Callable[[], Statements],
                                              text: str) -> None:
    def post(query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        # JSON's own escapes: a lone surrogate cannot be sent as UTF-8.
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return api.request("POST", "/graphql", headers=headers, content=json.dumps(
            {"query": query, "variables": variables}).encode())

    with statements() as counted:
        variable = post('query($c: String!) { entry(list: "admin-units", code: $c) '
                        '{ code } }', {"c": text})
        ops = post('mutation($id: ID!, $ops: JSON!) { addOperations(changeSetId: $id, '
                   'operations: $ops) { __typename } }',
                   {"id": "1", "ops": {"op": "rename", "name": [text]}}, people["steward"])
        search = post('query($s: String) { administrativeUnits(first: 5, search: $s) '
                      '{ nodes { code } } }', {"s": text})
    assert all("change_sets" not in sql for sql in counted.sql), counted.sql
    for response in (variable, ops, search):
        assert response.status_code == 200
        error = _clear(response.json()["errors"])
        assert error["extensions"]["code"] == "validation"
        assert "NUL" in error["message"] or "surrogate" in error["message"]
    if text == "a\u0000b":  # a literal can hold NUL too (a lone surrogate does not parse)
        error = _clear(api.errors('{ entry(list: "admin-units", code: "a\\u0000b") '
                                  '{ code } }'))
        assert "entry(code)" in error["message"]


@pytest.mark.parametrize("body", [
    b'\xff\xfe{"query": "{ release { number } }"}', b"42", b'"text"', b"null", b"[1, 2]",
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 30_000 + b"]" * 30_000,  # under the response cache's 64 KB: it reads it first
    b'{"query": "{ release { number } }", "variables": ' + b'{"a": ' * 100_000 + b"1"
    + b"}" * 100_001,
    b'{"query": "{ release { number } }", "variables": ' + b"[" * 65 + b"]" * 65 + b"}",
    b'{"query": "{ release { number } }", "variables": 5}', b'{"query": 5}', b"{not json"])
def test_malformed_json_bodies(api: Api, body: bytes) -> None:
    response = api.request("POST", "/graphql", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    # In GraphQL's JSON error shape, as every other answer: a client parses them alike.
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "bad_request"
    assert "Unexpected" not in error["message"]


@pytest.mark.parametrize("content_type, body", [
    ("text/plain", b'{"query": "{ release { number } }"}'),
    ("application/json", b'{"variables": {}}')])
def test_a_request_strawberry_refuses_is_answered_in_json(api: Api, content_type: str,
                                                          body: bytes) -> None:
    response = api.request("POST", "/graphql", content=body,
                           headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "bad_request"


def test_deep_variables_over_get(api: Api) -> None:
    response = api.request("GET", "/graphql", params={
        "query": "{ release { number } }", "variables": "[" * 2_000 + "]" * 2_000})
    assert response.status_code == 400
    assert "REGISTRY_MAX_JSON_DEPTH" in response.text
    # The parameter is named, not the body (a GET has none).
    assert "variables: JSON nests deeper than 64 levels" in response.text
    for variables, problem in (("[" * 65 + "]" * 65, "JSON nests deeper than 64 levels"),
                               ("{not json", "is not JSON"), ("[1]", "must be a JSON object")):
        answer = api.request("GET", "/graphql", params={
            "query": "{ release { number } }", "variables": variables})
        assert answer.status_code == 400 and f"variables: {problem}" in answer.text, answer.text
    fine = api.request("GET", "/graphql", params={
        "query": "query($n: Int) { release(number: $n) { number } }",
        "variables": '{"n": 1}'})
    assert fine.status_code == 200, fine.text


def test_json_depth_is_a_setting(make_api: Callable[..., Api],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'{"query": "{ release { number } }", "variables": {"a": [[[1]]]}}'
    assert make_api().request("POST", "/graphql", content=body, headers={
        "Content-Type": "application/json"}).status_code == 200
    monkeypatch.setenv("REGISTRY_MAX_JSON_DEPTH", "3")
    tight = make_api().request("POST", "/graphql", content=body, headers={
        "Content-Type": "application/json"})
    assert tight.status_code == 400 and "3 levels" in tight.text


def test_body_over_the_limit_while_streaming(make_api: Callable[..., Api],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MAX_GRAPHQL_BODY_BYTES", "10000")
    api = make_api()
    padding = " " * 20_000

    def chunks() -> Any:  # no Content-Length: the body is sent chunked
        yield b'{"query": "{ release { number } }' + padding.encode()
        yield b'"}'

    async def stream() -> Any:
        for chunk in chunks():
            yield chunk

    response = api.request("POST", "/graphql", content=stream(),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "too_large"
    small = api.request("POST", "/graphql", json={"query": "{ release { number } }"})
    assert small.status_code == 200


def _publish(api: Api, people: dict[str, str], number: int, barrier: threading.Barrier,
             results: list[httpx.Response]) -> None:
    barrier.wait()
    results.append(api.post(step("publishChangeSet"), {"id": number},
                            token=people["approver"]))


def test_concurrent_publishers_one_conflict(database: Database, people: dict[str, str],
                                            api: Api) -> None:
    """Two real threads, two connections: one publishes, the other gets a typed Conflict."""
    for _ in range(3):
        number = _approved(api, people)
        barrier = threading.Barrier(2)
        results: list[httpx.Response] = []
        threads = [threading.Thread(target=_publish, args=(api, people, number, barrier,
                                                           results)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kinds = sorted(_data(r)["__typename"] for r in results)
        assert kinds == ["Conflict", "PublishPayload"], [r.text for r in results]
