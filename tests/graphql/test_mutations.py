"""Every mutation and every typed error, over HTTP, with real tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import ApiToken, ChangeSetEvent
from tests.factories import hanoi
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]

RESULT = '''__typename
  ... on ChangeSetPayload { changeSet { number status version author reviewer comment
                                        operations { id position op list payload } } }
  ... on Problem { message code }
  ... on ValidationError { field rule problems { field rule message } }'''
CREATE = f'''mutation($input: CreateChangeSetInput!) {{ createChangeSet(input: $input) {{
  {RESULT} }} }}'''
ADD = f'''mutation($id: ID!, $ops: JSON!, $v: Int) {{
  addOperations(changeSetId: $id, operations: $ops, expectedVersion: $v) {{ {RESULT} }} }}'''
REMOVE = f'''mutation($id: ID!, $op: Int!, $v: Int) {{
  removeOperation(changeSetId: $id, operationId: $op, expectedVersion: $v) {{ {RESULT} }} }}'''
PREVIEW = '''mutation($id: ID!) { previewChangeSet(changeSetId: $id) { __typename
  ... on PreviewPayload { valid diff problems { field rule message } changeSet { number } }
  ... on Problem { message code } } }'''
SUBMIT = f'''mutation($id: ID!, $v: Int) {{
  submitChangeSet(changeSetId: $id, expectedVersion: $v) {{ {RESULT} }} }}'''
APPROVE = f'''mutation($id: ID!, $v: Int, $comment: String) {{
  approveChangeSet(changeSetId: $id, expectedVersion: $v, comment: $comment) {{ {RESULT} }} }}'''
REJECT = f'''mutation($id: ID!, $reason: String!, $v: Int) {{
  rejectChangeSet(changeSetId: $id, reason: $reason, expectedVersion: $v) {{ {RESULT} }} }}'''
WITHDRAW = f'''mutation($id: ID!, $v: Int) {{
  withdrawChangeSet(changeSetId: $id, expectedVersion: $v) {{ {RESULT} }} }}'''
PUBLISH = '''mutation($id: ID!, $v: Int) { publishChangeSet(changeSetId: $id, expectedVersion: $v) {
  __typename ... on PublishPayload { release { number changeSetId summary }
                                      changeSet { number status releaseNumber } }
  ... on Problem { message code } } }'''
DEFINE = '''mutation($d: JSON!) { defineCodeLists(definitions: $d) { __typename
  ... on DefineCodeListsPayload { release { number } codeLists { key name levels { key } } }
  ... on Problem { message code } ... on ValidationError { field rule } } }'''

DRAFTS = "{ changeSets(first: 5, status: DRAFT) { nodes { number } } }"
BASIS = {"number": "202/2025/QH15", "date": "2025-06-12", "issuer": "Quốc hội",
         "url": "https://example.org/202"}
NEW_WARD = {"op": "create", "list": "admin-units", "code": "00040", "name": "Phường Mới",
            "type": "Phường", "parent": "001"}
RENAME = {"op": "rename", "list": "admin-units", "code": "00037", "name": "Phường Phúc Tân Mới"}


def _create(title: str = "Sắp xếp phường", ops: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"title": title, "legalBasis": BASIS, "effectiveDate": "2025-07-01"}
    if ops is not None:
        payload["operations"] = ops
    return {"input": payload}


def call(api: Api, document: str, variables: dict[str, Any], token: str | None) -> Any:
    """The single root field of a mutation's data."""
    data = api(document, variables, token=token)
    [value] = data.values()
    return value


@pytest.fixture
def people(write: Write, token: Callable[..., str]) -> dict[str, str]:
    write(hanoi)
    return {"steward": token("steward-a", "steward", ["admin-units"]),
            "steward2": token("steward-c", "steward", ["admin-units"]),
            "agencies": token("steward-agencies", "steward", ["agencies"]),
            "approver": token("approver-b", "approver"),
            "approver2": token("approver-d", "approver"),
            "reader": token("reader-r", "reader"),
            "sync": token("replica-s", "sync"),
            "admin": token("admin-z", "admin")}


def test_whole_life_of_a_change_set(api: Api, people: dict[str, str], database: Any) -> None:
    created = call(api, CREATE, _create(ops=NEW_WARD), people["steward"])
    assert created["__typename"] == "ChangeSetPayload"
    cs = created["changeSet"]
    assert (cs["status"], cs["author"], cs["version"]) == ("DRAFT", "steward-a", 2)
    assert [o["op"] for o in cs["operations"]] == ["create"]
    number = cs["number"]

    one = call(api, ADD, {"id": number, "ops": RENAME, "v": 2}, people["steward"])
    assert [o["op"] for o in one["changeSet"]["operations"]] == ["create", "rename"]
    many = call(api, ADD, {"id": number, "ops": [
        {"op": "retire", "list": "admin-units", "code": "00013"}], "v": 3}, people["steward"])
    ops = many["changeSet"]["operations"]
    assert [o["position"] for o in ops] == [0, 1, 2]
    removed = call(api, REMOVE, {"id": number, "op": ops[2]["id"], "v": 4}, people["steward"])
    assert [o["op"] for o in removed["changeSet"]["operations"]] == ["create", "rename"]
    assert removed["changeSet"]["version"] == 5

    preview = call(api, PREVIEW, {"id": number}, people["steward"])
    assert preview["__typename"] == "PreviewPayload" and preview["valid"] is True
    assert preview["diff"]["summary"] == {"create": 1, "change": 1, "links": 0}
    assert [c["code"] for c in preview["diff"]["changes"]] == ["00040", "00037"]

    submitted = call(api, SUBMIT, {"id": number, "v": 5}, people["steward"])
    assert submitted["changeSet"]["status"] == "SUBMITTED"
    approved = call(api, APPROVE, {"id": number, "v": 6, "comment": "đúng nghị quyết"},
                    people["approver"])
    assert approved["changeSet"]["status"] == "APPROVED"
    assert approved["changeSet"]["reviewer"] == "approver-b"
    assert approved["changeSet"]["comment"] == "đúng nghị quyết"
    published = call(api, PUBLISH, {"id": number, "v": 7}, people["approver"])
    assert published["__typename"] == "PublishPayload"
    release = published["release"]
    assert release["changeSetId"] == number and release["summary"]["create"] == 1
    assert published["changeSet"] == {"number": number, "status": "PUBLISHED",
                                      "releaseNumber": release["number"]}

    # The data is there, as of the effective date, and every step names its actor.
    got = api('{ entry(list: "admin-units", code: "00040", asOf: "2025-07-01") { name '
              'changeSet { number } } }')["entry"]
    assert got == {"name": "Phường Mới", "changeSet": {"number": number}}
    events = api('query($id: ID!) { changeSet(id: $id) { events { action actor } } }',
                 {"id": number})["changeSet"]["events"]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("create", "steward-a"), ("submit", "steward-a"), ("approve", "approver-b"),
        ("publish", "approver-b")]
    with Session(database.engine) as session:
        used = dict(session.execute(select(ApiToken.name, ApiToken.last_used_at)).all())
    assert used["steward-a"] is not None and used["reader-r"] is None


def test_withdraw_and_reject(api: Api, people: dict[str, str]) -> None:
    first = call(api, CREATE, _create(ops=[RENAME]), people["steward"])["changeSet"]["number"]
    withdrawn = call(api, WITHDRAW, {"id": first}, people["steward"])
    assert withdrawn["changeSet"]["status"] == "WITHDRAWN"

    second = call(api, CREATE, _create(ops=[RENAME]), people["steward"])["changeSet"]["number"]
    call(api, SUBMIT, {"id": second}, people["steward"])
    no_reason = call(api, REJECT, {"id": second, "reason": "  "}, people["approver"])
    assert no_reason["__typename"] == "ValidationError"
    assert (no_reason["field"], no_reason["rule"]) == ("reason", "required")
    rejected = call(api, REJECT, {"id": second, "reason": "thiếu căn cứ"}, people["approver"])
    assert rejected["changeSet"]["status"] == "REJECTED"
    assert rejected["changeSet"]["comment"] == "thiếu căn cứ"
    again = call(api, REJECT, {"id": second, "reason": "lần nữa"}, people["approver"])
    assert again["__typename"] == "Conflict" and again["code"] == "conflict"


def test_validation_errors_name_field_and_rule(api: Api, people: dict[str, str]) -> None:
    empty = call(api, CREATE, _create(title=" "), people["steward"])
    assert empty["__typename"] == "ValidationError"
    assert (empty["field"], empty["rule"]) == ("title", "required")
    assert empty["problems"] == [{"field": "title", "rule": "required",
                                  "message": "is required"}]

    bad_op = call(api, CREATE, _create(ops=[{"op": "explode", "list": "admin-units"}]),
                  people["steward"])
    assert (bad_op["field"], bad_op["rule"]) == ("operations[0].op", "enum")
    not_ops = call(api, CREATE, _create(ops="create"), people["steward"])
    assert (not_ops["field"], not_ops["rule"]) == ("operations", "type")
    legal = call(api, CREATE, {"input": {"title": "x", "effectiveDate": "2025-07-01",
                                         "legalBasis": {**BASIS, "number": ""}}},
                 people["steward"])
    assert (legal["field"], legal["rule"]) == ("legalBasis.number", "required")

    # Several problems found by planning are reported together, and nothing is written.
    number = call(api, CREATE, _create(ops=[
        {**NEW_WARD, "parent": "999"},
        {"op": "rename", "list": "admin-units", "code": "55555", "name": "Không có"},
    ]), people["steward"])["changeSet"]["number"]
    preview = call(api, PREVIEW, {"id": number}, people["steward"])
    assert preview["valid"] is False and len(preview["problems"]) == 2
    refused = call(api, SUBMIT, {"id": number}, people["steward"])
    assert refused["__typename"] == "ValidationError"
    assert sorted((p["field"], p["rule"]) for p in refused["problems"]) == [
        ("operations[0].parent", "parent_missing"), ("operations[1].code", "not_active")]
    first = refused["problems"][0]
    assert (refused["field"], refused["rule"]) == (first["field"], first["rule"])
    status = api('query($id: ID!) { changeSet(id: $id) { status } }', {"id": number})
    assert status["changeSet"]["status"] == "DRAFT"


def test_not_found(api: Api, people: dict[str, str]) -> None:
    for document, variables in [(SUBMIT, {"id": 999}), (APPROVE, {"id": 999}),
                                (WITHDRAW, {"id": 999}), (PUBLISH, {"id": 999}),
                                (PREVIEW, {"id": 999}),
                                (ADD, {"id": 999, "ops": RENAME}),
                                (REJECT, {"id": 999, "reason": "x"})]:
        token = people["approver"] if document in (APPROVE, PUBLISH, REJECT) else people[
            "steward"]
        result = call(api, document, variables, token)
        assert result["__typename"] == "NotFound", document
        assert result["code"] == "not_found" and "999" in result["message"]
    number = call(api, CREATE, _create(ops=[RENAME]), people["steward"])["changeSet"]["number"]
    missing = call(api, REMOVE, {"id": number, "op": 424242}, people["steward"])
    assert missing["__typename"] == "NotFound"


def test_optimistic_version_conflict(api: Api, people: dict[str, str]) -> None:
    cs = call(api, CREATE, _create(ops=[RENAME]), people["steward"])["changeSet"]
    stale = cs["version"]
    call(api, ADD, {"id": cs["number"], "ops": NEW_WARD, "v": stale}, people["steward"])
    conflict = call(api, ADD, {"id": cs["number"], "ops": NEW_WARD, "v": stale},
                    people["steward"])
    assert conflict["__typename"] == "Conflict"
    assert f"not {stale}" in conflict["message"]
    submit = call(api, SUBMIT, {"id": cs["number"], "v": stale}, people["steward"])
    assert submit["__typename"] == "Conflict"
    # Approving a draft is a state conflict, not a permission problem.
    draft = call(api, APPROVE, {"id": cs["number"]}, people["approver"])
    assert draft["__typename"] == "Conflict" and "draft" in draft["message"]


def test_anonymous_writes_are_refused(api: Api, people: dict[str, str]) -> None:
    for document, variables in [(CREATE, _create(ops=[RENAME])), (SUBMIT, {"id": 1}),
                                (PUBLISH, {"id": 1}), (PREVIEW, {"id": 1}),
                                (DEFINE, {"d": {"key": "x"}})]:
        result = call(api, document, variables, None)
        assert result["__typename"] == "PermissionDenied", document
        assert "token" in result["message"]
    assert api(DRAFTS)["changeSets"]["nodes"] == []


def test_unauthorized_writes_are_refused(api: Api, people: dict[str, str]) -> None:
    for who in ("reader", "sync"):
        result = call(api, CREATE, _create(ops=[RENAME]), people[who])
        assert result["__typename"] == "PermissionDenied", who
        assert "steward or approver" in result["message"]
    # A steward may not review, nor touch another author's draft.
    number = call(api, CREATE, _create(ops=[RENAME]), people["steward"])["changeSet"]["number"]
    foreign = call(api, ADD, {"id": number, "ops": NEW_WARD}, people["steward2"])
    assert foreign["__typename"] == "PermissionDenied" and "author" in foreign["message"]
    call(api, SUBMIT, {"id": number}, people["steward"])
    review = call(api, APPROVE, {"id": number}, people["steward2"])
    assert review["__typename"] == "PermissionDenied"
    defined = call(api, DEFINE, {"d": {"key": "x"}}, people["approver"])
    assert defined["__typename"] == "PermissionDenied"


def test_a_bad_token_is_401(api: Api, people: dict[str, str]) -> None:
    for header in ("Bearer rgt_wrong", "Basic abc", "Bearer "):
        response = api.request("POST", "/graphql", json={"query": "{ viewer { role } }"},
                               headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["errors"][0]["extensions"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(api: Api, people: dict[str, str], write: Write) -> None:
    from registry.services import tokens
    from registry.services.actors import SYSTEM

    assert api("{ viewer { name } }", token=people["reader"])["viewer"]["name"] == "reader-r"
    write(lambda s: tokens.revoke_token(s, SYSTEM, "reader-r"))
    response = api.post("{ viewer { name } }", token=people["reader"])
    assert response.status_code == 401


def test_four_eyes(api: Api, people: dict[str, str], database: Any) -> None:
    own = call(api, CREATE, _create(ops=[RENAME]), people["approver"])["changeSet"]["number"]
    call(api, SUBMIT, {"id": own}, people["approver"])
    refused = call(api, APPROVE, {"id": own}, people["approver"])
    assert refused["__typename"] == "PermissionDenied"
    assert "second person" in refused["message"]
    also = call(api, REJECT, {"id": own, "reason": "tự từ chối"}, people["approver"])
    assert also["__typename"] == "PermissionDenied"
    approved = call(api, APPROVE, {"id": own}, people["approver2"])
    assert approved["changeSet"]["status"] == "APPROVED"
    self_publish = call(api, PUBLISH, {"id": own}, people["approver"])
    assert self_publish["__typename"] == "PermissionDenied"
    published = call(api, PUBLISH, {"id": own}, people["approver2"])
    assert published["changeSet"]["status"] == "PUBLISHED"
    # The refusals wrote nothing.
    with Session(database.engine) as session:
        actions = [(e.action, e.actor) for e in session.scalars(
            select(ChangeSetEvent).where(ChangeSetEvent.change_set_id == own)
            .order_by(ChangeSetEvent.id))]
    assert actions == [("create", "approver-b"), ("submit", "approver-b"),
                       ("approve", "approver-d"), ("publish", "approver-d")]


def test_steward_outside_their_lists(api: Api, people: dict[str, str]) -> None:
    agency_op = {"op": "create", "list": "agencies", "code": "000.00.00.H01", "name": "Bộ Mới",
                 "type": "Bộ"}
    refused = call(api, CREATE, _create(ops=[agency_op]), people["steward"])
    assert refused["__typename"] == "PermissionDenied"
    assert "agencies" in refused["message"]
    assert api(DRAFTS)["changeSets"]["nodes"] == []
    number = call(api, CREATE, _create(ops=[RENAME]), people["steward"])["changeSet"]["number"]
    added = call(api, ADD, {"id": number, "ops": agency_op}, people["steward"])
    assert added["__typename"] == "PermissionDenied"
    mine = call(api, CREATE, _create(ops=[agency_op]), people["agencies"])
    assert mine["__typename"] == "ChangeSetPayload"
    other = call(api, CREATE, _create(ops=[RENAME]), people["agencies"])
    assert other["__typename"] == "PermissionDenied"


def test_define_code_lists(api: Api, people: dict[str, str]) -> None:
    definition = {
        "key": "blood-groups", "name": "Nhóm máu", "name_en": "Blood groups",
        "code_pattern": "^(A|B|AB|O)[+-]$",
        "levels": [{"key": "group", "name": "Nhóm", "types": ["Nhóm máu"], "parents": []}],
    }
    defined = call(api, DEFINE, {"d": definition}, people["admin"])
    assert defined["__typename"] == "DefineCodeListsPayload"
    assert defined["codeLists"] == [{"key": "blood-groups", "name": "Nhóm máu",
                                     "levels": [{"key": "group"}]}]
    release = defined["release"]["number"]
    assert api("{ release { number } }")["release"]["number"] == release
    bad = call(api, DEFINE, {"d": [{"key": "Bad Key", "name": "x", "code_pattern": ".",
                                    "levels": [{"key": "a", "name": "a", "types": ["a"],
                                                "parents": []}]}]}, people["admin"])
    assert bad["__typename"] == "ValidationError" and bad["field"] == "key"
    not_a_list = call(api, DEFINE, {"d": "blood"}, people["admin"])
    assert (not_a_list["field"], not_a_list["rule"]) == ("definitions", "type")

    # Entries of a list defined at run time are GenericEntry.
    admin_cs = call(api, CREATE, _create(ops=[{"op": "create", "list": "blood-groups",
                                               "code": "O+", "name": "O Rh+",
                                               "type": "Nhóm máu"}]), people["admin"])
    number = admin_cs["changeSet"]["number"]
    call(api, SUBMIT, {"id": number}, people["admin"])
    call(api, APPROVE, {"id": number}, people["approver"])
    call(api, PUBLISH, {"id": number}, people["approver"])
    got = api('{ entry(list: "blood-groups", code: "O+", asOf: "2025-07-01") { __typename '
              'name codeList { nameEn } } }')["entry"]
    assert got == {"__typename": "GenericEntry", "name": "O Rh+",
                   "codeList": {"nameEn": "Blood groups"}}
