"""The generic CSV import: mapping, typed attributes, padding, bad rows and retirements."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.importers.csv_generic import parse_map_options, plan_csv_import
from registry.importers.plans import ImportPlan
from registry.importers.tabular import read_table
from registry.services import queries
from tests.exporters.test_export import _define_ethnic_groups
from tests.factories import d
from tests.importers.gso_files import csv_text, encode, xlsx_bytes
from tests.importers.test_gso_import import publish

LIST = "test-groups"


def plan(session: Session, data: bytes, effective: str = "2025-01-01", name: str = "g.csv",
         **kwargs: Any) -> ImportPlan:
    return plan_csv_import(session, LIST, read_table(data, name), d(effective), **kwargs)


@pytest.fixture
def groups(session: Session) -> Session:
    _define_ethnic_groups(session)
    return session


def test_columns_map_to_fields_and_typed_attributes(groups: Session) -> None:
    data = csv_text("Mã,Tên dân tộc,Tên gọi khác,Dân số",
                    "01,Kinh,Việt,82085826", "04,Mường,Mọi Bi; Ậu Tá,1452095").encode()
    found = plan(groups, data, explicit_map=parse_map_options(
        ["code=Mã", "name=Tên dân tộc", "attributes.other_names=Tên gọi khác",
         "attr:population=Dân số"]))
    assert found.operations[1] == {
        "op": "create", "list": LIST, "code": "04", "name": "Mường", "type": "Nhóm",
        "parent": None, "short_name": None, "name_en": None,
        "attributes": {"other_names": ["Mọi Bi", "Ậu Tá"], "population": 1452095}}
    publish(groups, found)
    assert queries.require_entry(groups, LIST, "04", d("2025-01-01")).attributes == \
        {"other_names": ["Mọi Bi", "Ậu Tá"], "population": 1452095}


def test_changes_become_renames_and_updates_and_missing_entries_stay(groups: Session) -> None:
    publish(groups, plan(groups, csv_text("code,name,population", "01,Kinh,1",
                                          "02,Tày,2").encode()))
    changed = plan(groups, csv_text("code,name,population", "01,Kinh,10").encode(),
                   "2025-02-01")
    assert changed.operations == [{"op": "update", "list": LIST,
                                   "code": "01", "attributes": {"population": 10}}]
    whole = plan(groups, csv_text("code,name,population", "01,Người Kinh,1").encode(),
                 "2025-02-01", retire_missing=True)
    assert [(op["op"], op["code"]) for op in whole.operations] == \
        [("rename", "01"), ("retire", "02")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-bom", "utf-16", "cp1258", "nfd"])
def test_every_encoding_reads_the_same(groups: Session, encoding: str) -> None:
    text = csv_text("code,name,other_names", "01,Kinh,Việt", "06,Hoa,Hán; Người Hoa")
    found = plan(groups, encode(text, encoding))
    assert [op["name"] for op in found.operations] == ["Kinh", "Hoa"]
    assert found.operations[1]["attributes"] == {
        "other_names": ["Hán", "Người Hoa"]}


def test_codes_stored_as_numbers_are_padded_to_the_lists_pattern(groups: Session) -> None:
    found = plan(groups, xlsx_bytes([["code", "name", "population"], [1, "Kinh", 82085826.0],
                                      [4, "Mường", None]]), name="g.xlsx")
    assert [(op["code"], op.get("attributes")) for op in found.operations] == [
        ("01", {"population": 82085826}), ("04", {})]
    from_csv = plan(groups, csv_text("code,name", "4,Mường").encode())
    assert from_csv.operations[0]["code"] == "04"


@pytest.mark.parametrize(("row", "rule"), [
    ("01,Kinh,1,true", "columns"),
    (",Kinh,1,true,", "required"),
    ("01,,1,true,", "required"),
    ("ABC,Kinh,1,true,", "code_pattern"),
    ("123,Kinh,1,true,", "code_pattern"),
    ("01,Kinh,nhiều,true,", "type"),
    ("01,Kinh,1,có lẽ,", "type"),
    ("02,Tày,1,true,", "duplicate"),
    ("01,Kinh,1,true,Dân tộc", "type"),
])
def test_each_bad_row_is_reported_and_blocks_the_import(groups: Session, row: str,
                                                        rule: str) -> None:
    text = csv_text("code,name,population,official,type", "02,Tày,2,false,", row,
                    "03,Thái,3,false,")
    found = plan(groups, text.encode())
    assert [(b.line, b.rule) for b in found.bad] == [(3, rule)]
    from registry.errors import ValidationErrors

    with pytest.raises(ValidationErrors):
        publish(groups, found)
    assert queries.get_entry(groups, LIST, "02", d("2025-01-01")) is None
    publish(groups, found, skip_bad=True)
    assert queries.get_entry(groups, LIST, "03", d("2025-01-01")) is not None


def test_mapping_mistakes_are_named(groups: Session) -> None:
    data = csv_text("Mã,Tên", "01,Kinh").encode()
    with pytest.raises(ValidationError, match="no column gives the 'code'"):
        plan(groups, data)
    with pytest.raises(ValidationError, match="'Ma' is not a column"):
        plan(groups, data, explicit_map={"code": "Ma"})
    with pytest.raises(ValidationError, match="no attribute 'size'"):
        plan(groups, data, explicit_map={"attributes.size": "Tên"})
    with pytest.raises(ValidationError, match="not FIELD=COLUMN"):
        parse_map_options(["code"])
