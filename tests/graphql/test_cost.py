"""Cost, depth and aliases: computed once per fragment, with real bounds, before validation."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    Lexer,
    Source,
    TokenKind,
    get_introspection_query,
    parse,
)
from sqlalchemy.orm import Session

from registry.graphql import limits
from registry.graphql.bounds import CAPPED
from registry.graphql.limits import Analysis, count_tokens, introspection_sizes, operation_cost
from registry.graphql.schema import schema
from registry.services import change_sets
from registry.services.actors import SYSTEM
from tests import processes
from tests.factories import STEWARD, draft, hanoi
from tests.graphql.conftest import Api, Statements

Write = Callable[[Callable[..., Any]], Any]
SCHEMA = schema._schema


@pytest.fixture(autouse=True)
def _data(write: Write) -> None:
    write(hanoi)


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    return operation_cost(SCHEMA, parse(query), None, variables or {})


def refused(api: Api, statements: Callable[[], Statements], query: str,
            variables: dict[str, Any] | None = None) -> dict[str, Any]:
    with statements() as counted:
        body = api.post(query, variables).json()
    assert body.get("data") is None and body.get("errors"), body
    # At most the response cache's look-up of the latest release, for a known document.
    assert all("feed_head" in sql for sql in counted.sql), counted.sql
    return body["errors"][0]  # type: ignore[no-any-return]


def fan_out(levels: int, body: str = "code", on: str = "Entry") -> str:
    """Each fragment spreads the next one twice: 2**levels copies once expanded."""
    fragments = "".join(f"fragment F{i} on {on} {{ {body} ...F{i + 1} ...F{i + 1} }}\n"
                        for i in range(levels))
    return fragments + f"fragment F{levels} on {on} {{ {body} }}\n"


@pytest.mark.parametrize("levels", [20, 60])
def test_fragment_fan_out_is_refused_after_linear_work(
        api: Api, statements: Callable[[], Statements], monkeypatch: pytest.MonkeyPatch,
        levels: int) -> None:
    query = '{ entry(list: "admin-units", code: "01") { ...F0 } }\n' + fan_out(levels)
    if levels == 20:
        assert len(query) < 1024
    selections = 0
    original = Analysis.selection

    def counted(self: Analysis, *args: Any) -> Any:
        nonlocal selections
        selections += 1
        return original(self, *args)

    monkeypatch.setattr(Analysis, "selection", counted)
    error = refused(api, statements, query)
    assert error["extensions"]["code"] == "too_costly"
    # Each fragment's selection once, and the operation's two: no expansion.
    assert selections <= levels + 3


def test_free_fan_out_is_validated_and_run_without_expansion(api: Api) -> None:
    # __typename costs nothing, so this reaches graphql-core's validation and execution:
    # 2**60 copies if any rule expanded fragments; this returns at once because none does.
    assert api("{ ...F0 }\n" + fan_out(60, "__typename", "Query")) == {"__typename": "Query"}


def test_depth_and_aliases_through_fragments(api: Api,
                                             statements: Callable[[], Statements]) -> None:
    chain = "".join(f"fragment D{i} on Entry {{ parent {{ code ...D{i + 1} }} }}\n"
                    for i in range(14)) + "fragment D14 on Entry { code }\n"
    deep = refused(api, statements, '{ entry(list: "admin-units", code: "01") { ...D0 } }\n'
                   + chain)
    assert "exceeds maximum operation depth of 12" in deep["message"]
    # The root field is at depth 0 and the deepest leaf counts: 12 is the last allowed.
    for parents, allowed in ((11, True), (12, False)):
        query = ('{ administrativeUnit(code: "01") { ' + "parent { " * parents + "code"
                 + " }" * parents + " } }")
        assert (limits.TooCostly not in _raises(query)) is allowed
    aliased = refused(api, statements, '{ entry(list: "admin-units", code: "01") { ...F0 } }\n'
                      + fan_out(6, "a: code b: name"))
    assert "aliases found" in aliased["message"]
    assert aliased["extensions"]["code"] == "too_many_aliases"


def _raises(query: str) -> set[type[Exception]]:
    try:
        cost(query)
    except limits.TooCostly as exc:
        return {type(exc)}
    return set()


NESTED = '''query($f: Int = 100) { administrativeUnits(first: $f) { nodes {
  children(first: $f) { nodes { code children(first: $f) { nodes { code } } } } } } }'''


def test_first_from_a_variable_default(api: Api, statements: Callable[[], Statements]) -> None:
    error = refused(api, statements, NESTED)
    assert error["extensions"]["code"] == "too_costly"
    # The value given wins over the default.
    assert api(NESTED, {"f": 3})["administrativeUnits"]["nodes"]
    wrong = refused(api, statements, NESTED.replace("= 100", "= 101"))
    assert wrong["message"] == "administrativeUnits(first): must be between 1 and 100, not 101"
    # The connection, then 7 times its page and the page's code.
    assert cost('query($f: Int = 7) { administrativeUnits(first: $f) { nodes { code } } }') \
        == 1 + 7 * (1 + 1)


def test_lists_without_first_cost_their_real_bound() -> None:
    # history pages by 20 by default: the field's own default is what is counted.
    assert cost("{ administrativeUnits(first: 10) { nodes { history { name } } } }") \
        == 1 + 10 * (1 + 1 + 20)
    assert cost("{ administrativeUnits(first: 10) { nodes { history(first: 100) "
                "{ name } } } }") == 1 + 10 * (1 + 1 + 100)
    assert cost('query($n: Int = 3) { changeSet(id: "1") { operations(first: $n) '
                '{ id op } } }') == 1 + 1 + 3 * 2
    assert cost('{ changeSet(id: "1") { operations { id op } } }') == 1 + 1 + 100 * 2
    with pytest.raises(limits.TooCostly, match="between 1 and 1000"):
        cost('{ changeSet(id: "1") { operations(first: 1001) { id } } }')
    # A capped list counts its cap.
    assert cost('{ entry(list: "admin-units", code: "1") { ancestors { code } } }') \
        == 1 + 1 + CAPPED[("Entry", "ancestors")]
    # 15 fields of 20 records of 100 entries: refused, where an estimate of 10 let it by.
    fields = ("name validFrom validTo status type level parentCode shortName nameEn "
              "attributes recordedRelease supersededRelease changeSetId legalNumber title")
    with pytest.raises(limits.TooCostly):
        cost(f"{{ administrativeUnits(first: 100) {{ nodes {{ history {{ {fields} }} }} }} }}")


def _lists(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if not isinstance(type_, GraphQLList):
        return False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return isinstance(type_, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)


def test_every_list_of_objects_has_a_real_bound() -> None:
    unbounded = []
    for type_ in SCHEMA.type_map.values():
        if type_.name.startswith("__") or not isinstance(
                type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        interfaces = [i.name for i in type_.interfaces]
        for name, field in type_.fields.items():
            if not _lists(field.type) or "first" in field.args:
                continue
            if name in ("edges", "nodes") and type_.name.endswith("Connection"):
                continue
            if (type_.name, name) == ("ConversionResult", "items"):
                continue
            if not any((owner, name) in CAPPED for owner in (type_.name, *interfaces)):
                unbounded.append(f"{type_.name}.{name}")
    assert unbounded == []


def test_paged_lists_are_paged_by_the_resolver(api: Api, write: Write) -> None:
    ops = [{"op": "rename", "list": "admin-units", "code": "00001", "name": f"Phường {i}"}
           for i in range(5)]
    number = write(lambda s: draft(s, ops))
    page = api(f'{{ changeSet(id: "{number}") {{ operations(first: 2, offset: 1) '
               '{ position payload } } }')["changeSet"]["operations"]
    assert [o["position"] for o in page] == [1, 2]
    assert page[0]["payload"]["name"] == "Phường 1"
    assert len(api(f'{{ changeSet(id: "{number}") {{ operations {{ id }} }} }}')
               ["changeSet"]["operations"]) == 5
    error = api.errors(f'{{ changeSet(id: "{number}") {{ operations(offset: -1) {{ id }} }} }}')
    assert error[0]["extensions"]["field"] == "offset"
    history = api('{ entry(list: "admin-units", code: "00001") { a: history(first: 1) '
                  '{ name } b: history(first: 1, offset: 1) { name } } }')["entry"]
    assert len(history["a"]) == 1 and history["b"] == []


def test_introspection_is_costed(api: Api, statements: Callable[[], Statements]) -> None:
    everything, largest = introspection_sizes(SCHEMA)
    assert everything > largest > 1
    assert cost("{ __schema { types { name fields { name } } } }") == everything
    assert cost('{ __type(name: "Entry") { name } }') == largest
    error = refused(api, statements, "{ ...F0 }\n" + fan_out(8, "__schema { types { name } }",
                                                              "Query"))
    assert error["extensions"]["code"] == "too_costly"


PREVIEW = '{ changeSet(id: "%s") { a: preview b: preview c: preview } }'


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many operations each planning the cache did not save had."""
    from registry.services import plan_cache

    calls: list[int] = []
    original = plan_cache.plan_operations

    def counting(session: Session, effective: Any, ops: list[Any]) -> Any:
        calls.append(len(ops))
        return original(session, effective, ops)

    monkeypatch.setattr(plan_cache, "plan_operations", counting)
    return calls


def test_preview_is_planned_once_per_state(api: Api, write: Write, token: Callable[..., str],
                                           planned: list[int]) -> None:
    secret = token("reader-r", "reader")
    rename = {"op": "rename", "list": "admin-units", "code": "00001", "name": "Phường Mới"}
    number = write(lambda s: draft(s, [rename]))
    first = api(PREVIEW % number, token=secret)["changeSet"]
    assert first["a"] == first["b"] == first["c"]
    assert first["a"]["summary"]["change"] == 1
    api(PREVIEW % number, token=secret)
    assert planned == [1]
    # The change-set page uses the same plans.
    assert api.request("GET", f"/change-sets/{number}").status_code == 200
    assert planned == [1]
    # A new state is planned anew: another operation (a new version), a new release.
    write(lambda s: change_sets.add_operations(s, STEWARD, number, [
        {"op": "rename", "list": "admin-units", "code": "00004", "name": "Phường Khác"}]))
    assert api(PREVIEW % number, token=secret)["changeSet"]["a"]["summary"]["change"] == 2
    assert planned == [1, 2]
    other = {"op": "rename", "list": "admin-units", "code": "00013", "name": "Phường Ba"}
    write(lambda s: change_sets.publish_direct(s, SYSTEM, draft(s, [other], actor=SYSTEM)))
    api(PREVIEW % number, token=secret)
    assert planned == [1, 2, 2]


def test_anonymous_callers_cannot_plan(api: Api, write: Write, planned: list[int],
                                       statements: Callable[[], Statements]) -> None:
    rename = {"op": "rename", "list": "admin-units", "code": "00001", "name": "Phường Mới"}
    number = write(lambda s: draft(s, [rename]))
    errors = api.errors(f'{{ changeSet(id: "{number}") {{ preview }} }}')
    assert errors[0]["extensions"]["code"] == "permission_denied"
    assert planned == []
    # Aliases past the preview's price are refused before anything runs.
    many = " ".join(f"p{i}: preview" for i in range(13))
    error = refused(api, statements, f'{{ changeSet(id: "{number}") {{ {many} }} }}')
    assert error["extensions"]["code"] == "too_costly"


def test_preview_mutation_shares_the_plans(api: Api, write: Write, token: Callable[..., str],
                                           planned: list[int],
                                           statements: Callable[[], Statements]) -> None:
    secret = token("reader-r", "reader")
    rename = {"op": "rename", "list": "admin-units", "code": "00001", "name": "Phường Mới"}
    number = write(lambda s: draft(s, [rename]))
    aliases = " ".join(f'p{i}: previewChangeSet(changeSetId: "{number}") '
                       "{ ... on PreviewPayload { valid } }" for i in range(3))
    result = api(f"mutation {{ {aliases} }}", token=secret)
    assert [r["valid"] for r in result.values()] == [True] * 3
    api(PREVIEW % number, token=secret)
    assert planned == [1]
    many = " ".join(f'p{i}: previewChangeSet(changeSetId: "{number}") {{ __typename }}'
                    for i in range(13))
    with statements() as counted:
        body = api.post(f"mutation {{ {many} }}", token=secret).json()
    assert body["errors"][0]["extensions"]["code"] == "too_costly"
    assert all("change_sets" not in sql for sql in counted.sql)


@pytest.mark.parametrize("document", [
    "{ a b }",
    'query($x: Int = -1.5e3) { f(s: "a \\"b\\" c", t: """x\n " \\""" y""") { ...F } }'
    " # a comment, not tokens\nfragment F on T { g }",
    '{ convertAddresses(addresses: ["P. Quán Thánh, Q. Ba Đình, HN", "x y z"]) { release } }',
    get_introspection_query(descriptions=True),
])
def test_token_count_before_parsing(document: str) -> None:
    lexer, exact = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:
        exact += 1
    assert count_tokens(document, 10**6) == exact
    assert count_tokens(document, 3) == min(exact, 4)  # stops just past the limit


def test_too_many_tokens_are_refused_before_parsing(api: Api,
                                                    statements: Callable[[], Statements]) -> None:
    error = refused(api, statements, "{ " + " ".join(["__typename"] * 3000) + " }")
    assert error["extensions"]["code"] == "too_many_tokens"  # ours, not the parser's
    # A string of any length is one token.
    words = " ".join(["từ"] * 5000)
    assert api(f'{{ entries(list: "admin-units", first: 1, search: "{words}") '
               "{ nodes { code } } }")["entries"]["nodes"] == []


def test_the_limits_are_settings() -> None:
    # Read when the schema is built: a process of its own, with the variables set.
    script = ("from registry.graphql.schema import schema\n"
              "for q in ('{ administrativeUnits(first: 50) { nodes { code } } }',\n"
              "          '{ a: release { number } b: release { number } }',\n"
              "          '{ release { changeSet { operations { id } } } }',\n"
              "          '{ ' + '__typename ' * 25 + '}'):\n"
              "    print(schema.execute_sync(q).errors[0].extensions['code'])\n")
    env = {**os.environ, "REGISTRY_MAX_GRAPHQL_COST": "100", "REGISTRY_MAX_GRAPHQL_ALIASES": "1",
           "REGISTRY_MAX_GRAPHQL_DEPTH": "2", "REGISTRY_MAX_GRAPHQL_TOKENS": "20"}
    done = processes.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["too_costly", "too_many_aliases", "too_deep",
                                   "too_many_tokens"]
