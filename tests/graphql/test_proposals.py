"""Proposals and review comments over GraphQL: the same scope rule, `myChangeSets`, threads,
`requestChanges` and `adoptChangeSet`, with real tokens (issue: proposals from
localities)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from registry.services import tokens
from registry.services.actors import SYSTEM
from tests.factories import hanoi, publish, unit
from tests.graphql.conftest import Api
from tests.graphql.test_mutations import ADD, CREATE, RESULT, SUBMIT, _create

Write = Callable[[Callable[..., Any]], Any]
COMMENT = f'''mutation($id: ID!, $body: String!, $op: Int, $reply: Int) {{
  addComment(changeSetId: $id, body: $body, operationId: $op, replyTo: $reply) {{ {RESULT} }} }}'''
REQUEST = f'''mutation($id: ID!, $c: String!) {{
  requestChanges(changeSetId: $id, comment: $c) {{ {RESULT} }} }}'''
ADOPT = f'''mutation($id: ID!) {{ adoptChangeSet(changeSetId: $id) {{ {RESULT} }} }}'''
MINE = '''{ myChangeSets(first: 10) { nodes { number status proposalScope proposedBy author
  comments { number operationId replyTo author body } } } }'''
RENAME = {"op": "rename", "list": "admin-units", "code": "00004", "name": "Phường Trúc Bạch Mới"}
OUTSIDE = {"op": "rename", "list": "admin-units", "code": "024", "name": "Huyện Đồng Văn Mới"}


def _secrets(write: Write) -> dict[str, str]:
    def setup(session: Any) -> dict[str, str]:
        hanoi(session)
        publish(session, [unit("02", "Tỉnh Hà Giang", "Tỉnh"),
                          unit("024", "Huyện Đồng Văn", "Huyện", "02")])
        return {name: tokens.create_token(session, SYSTEM, name, role, scope=scope).secret
                for name, role, scope in (("hn", "proposer", "01"),
                                          ("hg", "proposer", "02"),
                                          ("central", "steward", None))}
    found: dict[str, str] = write(setup)
    return found


def test_a_proposal_over_graphql(api: Api, write: Write) -> None:
    secret = _secrets(write)
    made = api(CREATE, _create("Đề xuất", [RENAME]), secret["hn"])["createChangeSet"]
    cs = made["changeSet"]["number"]
    ops = made["changeSet"]["operations"]
    refused = api(ADD, {"id": cs, "ops": [OUTSIDE]}, secret["hn"])["addOperations"]
    assert refused["__typename"] == "ValidationError"
    assert [(p["field"], p["rule"]) for p in refused["problems"]] == [("operations[1]",
                                                                       "scope")]
    assert api(SUBMIT, {"id": cs}, secret["hn"])["submitChangeSet"]["changeSet"][
        "status"] == "SUBMITTED"
    first = api(COMMENT, {"id": cs, "body": "Căn cứ?", "op": ops[0]["id"]}, secret["central"])
    assert first["addComment"]["__typename"] == "ChangeSetPayload"
    back = api(REQUEST, {"id": cs, "c": "Bổ sung căn cứ."}, secret["central"])
    assert back["requestChanges"]["changeSet"]["status"] == "DRAFT"
    mine = api(MINE, token=secret["hn"])["myChangeSets"]["nodes"]
    assert [(m["number"], m["status"], m["proposalScope"]) for m in mine] == [
        (cs, "DRAFT", "admin-units:01")]
    assert [c["body"] for c in mine[0]["comments"]] == ["Căn cứ?", "Bổ sung căn cứ."]
    reply = api(COMMENT, {"id": cs, "body": "Đã bổ sung.", "reply": mine[0]["comments"][0][
        "number"]}, secret["hn"])["addComment"]
    assert reply["__typename"] == "ChangeSetPayload"
    api(SUBMIT, {"id": cs}, secret["hn"])
    adopted = api(ADOPT, {"id": cs}, secret["central"])["adoptChangeSet"]["changeSet"]
    assert (adopted["author"], adopted["status"]) == ("central", "DRAFT")
    mine = api(MINE, token=secret["hn"])["myChangeSets"]["nodes"]
    assert (mine[0]["proposedBy"], mine[0]["author"]) == ("hn", "central")
    threads = mine[0]["comments"]
    assert threads[0]["operationId"] == ops[0]["id"]
    assert threads[2]["replyTo"] == threads[0]["number"]
    assert threads[2]["operationId"] == ops[0]["id"]  # a reply is on its comment's operation


def test_who_reads_and_writes_the_thread(api: Api, write: Write) -> None:
    secret = _secrets(write)
    cs = api(CREATE, _create("Đề xuất", [RENAME]), secret["hn"])["createChangeSet"][
        "changeSet"]["number"]
    other = api(COMMENT, {"id": cs, "body": "xin chào"}, secret["hg"])["addComment"]
    assert (other["__typename"], other["message"]) == (
        "PermissionDenied", f"hg (proposer) takes no part in the review of change set {cs}")
    empty = api(COMMENT, {"id": cs, "body": "  "}, secret["hn"])["addComment"]
    assert (empty["field"], empty["rule"]) == ("body", "required")
    query = f'{{ changeSet(id: "{cs}") {{ comments {{ body }} }} }}'
    assert api.errors(query)[0]["message"].startswith("reading review comments needs")
    assert "takes no part" in api.errors(query, token=secret["hg"])[0]["message"]
    assert api(query, token=secret["central"])["changeSet"]["comments"] == []
    assert api.errors(MINE)[0]["message"].startswith("listing your change sets needs")
    mine = api(MINE, token=secret["hg"])["myChangeSets"]["nodes"]
    assert mine == []
