"""Code lists as data: built-ins, agencies' QCVN 102 parents, procedures' references, new lists."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry.errors import PermissionDenied, ValidationError, ValidationErrors
from registry.services import code_lists, queries
from registry.services.actors import SYSTEM, Actor
from registry.services.list_rules import qcvn102_parent
from tests.factories import d, publish

AG = "agencies"


def agency(code: str, name: str, type_: str, **extra: object) -> dict[str, object]:
    return {"op": "create", "list": AG, "code": code, "name": name, "type": type_, **extra}


def test_builtin_lists_are_defined_by_the_migration_step(session: Session) -> None:
    keys = [c.key for c in code_lists.all_lists(session)]
    assert {"admin-units", "agencies", "procedures"} <= set(keys)
    rules = code_lists.rules_for(code_lists.get_list(session, "admin-units"))
    assert rules.level_of("Đặc khu", "type").key == "commune"
    assert rules.level_of("Thành phố Trung ương", "type").key == "province"
    assert rules.level_of("Thị xã", "type").key == "district"


@pytest.mark.parametrize(("code", "parent"), [
    ("000.00.00.G01", None),
    ("000.00.12.G01", "000.00.00.G01"),
    ("000.34.12.G01", "000.00.12.G01"),
    ("001.34.12.G01", "000.34.12.G01"),
])
def test_qcvn102_parent_is_read_right_to_left(code: str, parent: str | None) -> None:
    assert qcvn102_parent(code) == parent


def test_agency_parent_comes_from_the_code_and_is_checked(session: Session) -> None:
    publish(session, [
        agency("000.00.00.G01", "Bộ Công an", "Bộ"),
        agency("000.00.01.G01", "Văn phòng Bộ", "Đơn vị cấp 2"),
    ])
    child = queries.get_entry(session, AG, "000.00.01.G01", d("2025-01-01"))
    assert child is not None and child.parent == "000.00.00.G01" and child.level == "level-2"
    with pytest.raises(ValidationErrors) as err:
        publish(session, [agency("000.00.02.G01", "Cục X", "Đơn vị cấp 2",
                                 parent="000.00.00.G02")])
    assert [(e.field, e.rule) for e in err.value.errors] == [
        ("operations[0].parent", "parent_rule")]
    with pytest.raises(ValidationErrors) as err:
        publish(session, [agency("000.00.00.G01X", "Sai", "Bộ")])
    assert err.value.errors[0].rule == "code_pattern"


def test_procedure_references_must_be_active_agencies(session: Session) -> None:
    publish(session, [agency("000.00.00.G03", "Bộ Giáo dục và Đào tạo", "Bộ")])
    procedure = {"op": "create", "list": "procedures", "code": "1.001108",
                 "name": "Thủ tục công nhận trường trung học", "type": "Thủ tục hành chính",
                 "attributes": {"field_code": "G03-GD10", "levels": ["province"],
                                "implementing_agencies": ["000.00.00.G03"],
                                "online_level": "full"}}
    publish(session, [procedure])
    stored = queries.get_entry(session, "procedures", "1.001108", d("2025-01-01"))
    assert stored is not None and stored.attributes["implementing_agencies"] == ["000.00.00.G03"]
    bad = {**procedure, "code": "1.001109",
           "attributes": {**procedure["attributes"],  # type: ignore[dict-item]
                          "implementing_agencies": ["000.00.00.G99"]}}
    with pytest.raises(ValidationErrors) as err:
        publish(session, [bad])
    assert [(e.field, e.rule) for e in err.value.errors] == [
        ("operations[0].attributes.implementing_agencies[0]", "reference")]


@pytest.mark.parametrize(("attributes", "field", "rule"), [
    ({"online_level": "level-4"}, "attributes.online_level", "enum"),
    ({"levels": "province"}, "attributes.levels", "type"),
    ({"colour": "red"}, "attributes.colour", "unknown_attribute"),
    ({}, "attributes.field_code", "required"),
])
def test_attribute_schema_is_enforced(session: Session, attributes: dict[str, object],
                                      field: str, rule: str) -> None:
    attrs = {"field_code": "G03-GD10", **attributes} if "field_code" not in field else attributes
    with pytest.raises(ValidationErrors) as err:
        publish(session, [{"op": "create", "list": "procedures", "code": "2.000815",
                           "name": "X", "type": "Thủ tục hành chính", "attributes": attrs}])
    assert [(e.field, e.rule) for e in err.value.errors] == [(f"operations[0].{field}", rule)]


def test_a_new_list_needs_no_code(session: Session) -> None:
    release = code_lists.define_lists(session, SYSTEM, [{
        "key": "ethnic-groups", "name": "Danh mục các dân tộc Việt Nam",
        "code_pattern": "^\\d{2}$",
        "levels": [{"key": "ethnic-group", "types": ["Dân tộc"], "parents": []}],
        "attributes": {"other_names": {"type": "string"}},
    }])
    assert release == queries.latest_release(session)
    publish(session, [{"op": "create", "list": "ethnic-groups", "code": "04", "name": "Mường",
                       "type": "Dân tộc", "attributes": {"other_names": "Mol, Mual"}}])
    found = queries.list_entries(session, "ethnic-groups", search="muong", as_of=d("2025-01-01"))
    assert [e.code for e in found.items] == ["04"]


@pytest.mark.parametrize(("definition", "field"), [
    ({"key": "Bad Key", "name": "x", "code_pattern": "^x$",
      "levels": [{"key": "a", "types": ["A"]}]}, "key"),
    ({"key": "x", "name": "x", "code_pattern": "([",
      "levels": [{"key": "a", "types": ["A"]}]}, "code_pattern"),
    ({"key": "x", "name": "x", "code_pattern": "^x$",
      "levels": [{"key": "a", "types": ["A"], "parents": ["zz"]}]}, "levels[0].parents"),
    ({"key": "x", "name": "x", "code_pattern": "^x$",
      "levels": [{"key": "a", "types": ["A"]}, {"key": "b", "types": ["A"]}]},
     "levels[1].types"),
    ({"key": "x", "name": "x", "code_pattern": "^x$", "levels": [{"key": "a", "types": ["A"]}],
      "attributes": {"r": {"type": "ref", "list": "nowhere"}}}, "attributes.r.list"),
])
def test_bad_list_definitions_are_refused(session: Session, definition: dict[str, object],
                                          field: str) -> None:
    with pytest.raises(ValidationError) as err:
        code_lists.define_lists(session, SYSTEM, [definition])
    assert err.value.field == field


def test_only_admins_define_lists(session: Session) -> None:
    with pytest.raises(PermissionDenied):
        code_lists.define_lists(session, Actor("s", "steward"), [])
