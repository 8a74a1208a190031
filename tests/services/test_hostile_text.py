"""Hostile text is refused at the service boundary: control characters, lone surrogates and
links that are not http(s), in every text field of an operation or a change set.

Every interface (files, CLI, web, GraphQL) reaches these services, so they all refuse
alike, with one line naming the field and the rule, and nothing is written.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.models import ChangeSet, Operation
from registry.services import change_sets
from registry.services.change_sets import LegalBasis, parse_legal_basis
from registry.text import check_text
from tests.factories import APPROVER, BASIS, STEWARD, d, draft, hanoi

AU = "admin-units"
# NUL, BEL, ESC, DEL, the C1 controls NEL and APC, and both halves of a surrogate pair.
HOSTILE = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\ud800", "\udfff", "\n", "\t"]
WARD = {"code": "00040", "name": "Phường Ngọc Hà", "type": "Phường", "parent": "001"}
# One operation of each shape, and the path of every text field in it.
CASES: list[tuple[dict[str, Any], list[tuple[str | int, ...]]]] = [
    ({"op": "create", "list": AU, **WARD, "short_name": "Ngọc Hà", "name_en": "Ngoc Ha Ward",
      "attributes": {"ghi_chu": "x"}},
     [("list",), ("code",), ("name",), ("type",), ("parent",), ("short_name",), ("name_en",),
      ("attributes", "ghi_chu")]),
    ({"op": "rename", "list": AU, "code": "00004", "name": "Phường Ba Đình"}, [("name",)]),
    ({"op": "correct", "list": AU, "code": "00004", "new_code": "00005"}, [("new_code",)]),
    ({"op": "merge", "list": AU, "sources": ["00004", {"code": "00013"}],
      "target": dict(WARD)},
     [("sources", 0), ("sources", 1, "code"), ("target", "name"), ("target", "code")]),
    ({"op": "split", "list": AU, "source": "00037",
      "targets": [{**WARD, "default": True}, {**WARD, "code": "00041"}]},
     [("source",), ("targets", 1, "name")]),
    ({"op": "transfer", "list": AU, "from": "00001", "to": "00004"}, [("to",)]),
]


def _poisoned(op: dict[str, Any], path: tuple[str | int, ...], char: str) -> dict[str, Any]:
    out = copy.deepcopy(op)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = f"{node[path[-1]][:2]}{char}{node[path[-1]][2:]}"
    return out


def _rows(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("char", HOSTILE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_text_field_of_an_operation_refuses_controls(session: Session, char: str) -> None:
    cs_id = draft(session, [{"op": "retire", "list": AU, "code": "00001"}])
    rule = "lone_surrogate" if "\ud800" <= char <= "\udfff" else "control_character"
    for op, paths in CASES:
        for path in paths:
            with pytest.raises(ValidationError) as refused:
                change_sets.add_operations(session, STEWARD, cs_id,
                                           [_poisoned(op, path, char)], first_index=3)
            error = refused.value
            assert error.rule == rule, (op["op"], path)
            if op["op"] != "transfer":
                leaf = ".".join(str(p) for p in path if isinstance(p, str))
                assert error.field.startswith("operations[3]") and leaf.split(".")[-1] in (
                    error.field), (error.field, path)
            assert "\n" not in error.message and f"U+{ord(char):04X}" in error.message
    assert len(change_sets.operations_of(session, cs_id)) == 1


def test_attribute_keys_are_checked_as_well_as_values(session: Session) -> None:
    cs_id = draft(session, [{"op": "retire", "list": AU, "code": "00001"}])
    with pytest.raises(ValidationError, match=re.escape("control character U+0000")) as refused:
        change_sets.add_operations(session, STEWARD, cs_id, [
            {"op": "update", "list": AU, "code": "00001", "attributes": {"a\x00": "b"}}])
    assert refused.value.field == "operations[0].attributes"


@pytest.mark.parametrize("field", ["title", "number", "issuer"])
def test_a_change_set_refuses_a_nul_in_its_title_and_legal_basis(
        session: Session, field: str) -> None:
    before = _rows(session, ChangeSet)
    raw = {"number": "1/2025/QĐ", "date": "2025-01-01", "issuer": "Bộ Nội vụ"}
    title = "Sáp nhập"
    if field == "title":
        title = "Sáp\x00nhập"
    else:
        raw[field] = raw[field] + "\x00"
    with pytest.raises(ValidationError) as refused:
        change_sets.create_change_set(session, STEWARD, title, parse_legal_basis(raw),
                                      d("2025-07-01"))
    assert refused.value.rule == "control_character"
    assert refused.value.field == ("title" if field == "title" else f"legal_basis.{field}")
    assert _rows(session, ChangeSet) == before


def test_a_legal_basis_built_directly_is_checked_too(session: Session) -> None:
    basis = LegalBasis(number="1\ud83d/2025", date=date(2025, 1, 1), issuer="Bộ Nội vụ")
    with pytest.raises(ValidationError, match="lone surrogate") as refused:
        change_sets.create_change_set(session, STEWARD, "Đổi tên", basis, d("2025-07-01"))
    assert refused.value.field == "legal_basis.number"


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JavaScript:alert(document.cookie)", "data:text/html,<b>x</b>",
    "vbscript:msgbox", "file:///etc/passwd", "//evil.example/x", "http:no-host",
    "ftp://files.example/a.pdf", "https://vanban.gov.vn/\x00",
])
def test_the_legal_basis_link_is_http_or_https_only(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_legal_basis({"number": "1/2025", "date": "2025-01-01", "issuer": "X", "url": url})
    assert refused.value.field == "legal_basis.url"
    assert refused.value.rule in ("url_scheme", "control_character")


@pytest.mark.parametrize("url", ["https://vanban.chinhphu.vn/?pageid=27160&docid=212345",
                                 "HTTP://thuvienphapluat.vn/van-ban/a.aspx"])
def test_http_links_are_kept(url: str) -> None:
    basis = parse_legal_basis({"number": "1/2025", "date": "2025-01-01", "issuer": "X",
                               "url": f" {url} "})
    assert basis.url == url


def test_notes_keep_their_line_breaks_and_refuse_other_controls(session: Session) -> None:
    hanoi(session)
    cs_id = draft(session, [{"op": "rename", "list": AU, "code": "00004", "name": "Ba Đình"}],
                  "2025-07-01")
    change_sets.submit(session, STEWARD, cs_id)
    with pytest.raises(ValidationError) as refused:
        change_sets.reject(session, APPROVER, cs_id, "sai\x00tên")
    assert (refused.value.field, refused.value.rule) == ("reason", "control_character")
    with pytest.raises(ValidationError):
        change_sets.approve(session, APPROVER, cs_id, comment="ok\x1b[31m")
    assert change_sets.get_change_set(session, cs_id).status == "submitted"
    change_sets.reject(session, APPROVER, cs_id, "Sai tên:\r\n\t- Ba Đình")
    assert change_sets.get_change_set(session, cs_id).comment == "Sai tên:\r\n\t- Ba Đình"


def test_vietnamese_and_other_scripts_pass_untouched() -> None:
    text = "Phường Hồ Gươm · Xã Ea H'leo – 𠀋 ﻿"
    assert check_text(text, "name") == text


def test_a_nul_in_a_name_never_reaches_publishing(session: Session) -> None:
    """The attack: a NUL in a name broke publishing on PostgreSQL (leaving the set approved)
    and was published on SQLite (breaking every PostgreSQL replica). Now the draft refuses
    it, so there is nothing to approve or publish."""
    hanoi(session)
    operations = _rows(session, Operation)
    cs_id = draft(session, [{"op": "rename", "list": AU, "code": "00004",
                             "name": "Phường Ba Đình"}], "2025-07-01")
    with pytest.raises(ValidationError, match=re.escape(
            "operations[0].name: contains the control character U+0000")):
        change_sets.add_operations(session, STEWARD, cs_id, [
            {"op": "rename", "list": AU, "code": "00013", "name": "Phường\x00Quán Thánh"}])
    assert _rows(session, Operation) == operations + 1
    change_sets.submit(session, STEWARD, cs_id)
    change_sets.approve(session, APPROVER, cs_id)
    change_sets.publish(session, APPROVER, cs_id)
    cs = change_sets.get_change_set(session, cs_id)
    assert cs.status == "published"
    assert [op.payload["name"] for op in change_sets.operations_of(session, cs_id)] == [
        "Phường Ba Đình"]


def test_a_draft_with_a_bad_title_is_never_created(session: Session) -> None:
    before = _rows(session, ChangeSet)
    with pytest.raises(ValidationError):
        draft(session, [], title="a\x00b")
    assert _rows(session, ChangeSet) == before
    assert BASIS.url is None


def test_a_list_definition_refuses_control_characters(session: Session) -> None:
    from registry.services import code_lists
    from registry.services.actors import SYSTEM

    with pytest.raises(ValidationError) as refused:
        code_lists.define_lists(session, SYSTEM, [{
            "key": "test-nul", "name": "Nhóm\x00", "code_pattern": "^\\d{2}$",
            "levels": [{"key": "group", "types": ["Nhóm"]}]}])
    assert (refused.value.field, refused.value.rule) == ("lists[0].name", "control_character")
