"""GSO imports against a real database: the diff, its scope, bad rows, and the 2025 reform."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import ValidationErrors
from registry.importers.gso import parse_table
from registry.importers.gso_import import plan_gso_import
from registry.importers.plans import ImportPlan, commit_import, dry_run, refuse_bad_rows
from registry.importers.tabular import read_table
from registry.models import EntryVersion
from registry.services import queries
from registry.services.actors import SYSTEM
from registry.services.world import State
from tests.factories import BASIS, d
from tests.importers.gso_files import COMMUNES, DISTRICTS, FIXTURES, csv_text

PRE = FIXTURES / "gso-lai-chau-2025-06-30.csv"
POST = FIXTURES / "gso-lai-chau-2025-07-01.csv"
HANOI = csv_text(
    DISTRICTS,
    "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Phúc Xá,00001,Phường,",
    "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Trúc Bạch,00004,Phường,",
    "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Quán Thánh,00013,Phường,",
    "Thành phố Hà Nội,01,Huyện Sóc Sơn,016,Thị trấn Sóc Sơn,00376,Thị trấn,",
)


def plan_of(session: Session, data: bytes | str, effective: str, *,
            whole_country: bool = False, name: str = "file.csv") -> ImportPlan:
    raw = data.encode() if isinstance(data, str) else data
    parsed = parse_table(read_table(raw, name))
    return plan_gso_import(session, parsed, d(effective), whole_country)


def publish(session: Session, plan: ImportPlan, skip_bad: bool = False) -> int:
    refuse_bad_rows(plan, skip_bad)
    _, release = commit_import(session, SYSTEM, plan, "import", BASIS, publish=True)
    assert release is not None
    return release


def ops(plan: ImportPlan, kind: str) -> list[dict[str, Any]]:
    return [op for op in plan.operations if op["op"] == kind]


def state(session: Session, code: str, on: str) -> tuple[str, str, str | None, str] | None:
    view = queries.get_entry(session, "admin-units", code, d(on))
    return (view.name, view.type, view.parent, view.status) if view else None


def test_an_empty_registry_gets_every_unit_created_parents_first(session: Session) -> None:
    plan = plan_of(session, HANOI, "2025-01-01")
    assert plan.counts() == {"create": 7}
    assert [op["code"] for op in plan.operations] == \
        ["01", "001", "016", "00001", "00004", "00013", "00376"]
    publish(session, plan)
    assert state(session, "00376", "2025-01-01") == ("Thị trấn Sóc Sơn", "Thị trấn", "016",
                                                     "active")
    assert queries.require_entry(session, "admin-units", "01", d("2025-01-01")).short_name \
        == "Hà Nội"


def test_the_diff_renames_reclassifies_moves_and_retires(session: Session) -> None:
    publish(session, plan_of(session, HANOI, "2025-01-01"))
    after = csv_text(
        COMMUNES,
        "Thành phố Hà Nội,01,Phường Ba Đình,00004,Phường,",
        "Thành phố Hà Nội,01,Xã Sóc Sơn,00376,Xã,",
        "Thành phố Hà Nội,01,Phường Phúc Xá,00001,Phường,",
    )
    plan = plan_of(session, after, "2025-07-01")
    assert plan.counts() == {"rename": 2, "reclassify": 1, "move": 3, "retire": 3}
    assert ops(plan, "rename")[0] == {"op": "rename", "list": "admin-units", "code": "00004",
                                      "name": "Phường Ba Đình", "short_name": "Ba Đình"}
    assert ops(plan, "reclassify") == [{"op": "reclassify", "list": "admin-units",
                                        "code": "00376", "type": "Xã"}]
    # Children are retired before their parents.
    assert [op["code"] for op in ops(plan, "retire")] == ["00013", "001", "016"]
    assert plan.by_group() == {"01 Thành phố Hà Nội": {"rename": 2, "reclassify": 1,
                                                       "move": 3, "retire": 3}}
    publish(session, plan)
    assert state(session, "00004", "2025-07-01") == ("Phường Ba Đình", "Phường", "01",
                                                     "active")
    assert state(session, "00004", "2025-06-30") == ("Phường Trúc Bạch", "Phường", "001",
                                                     "active")
    assert state(session, "001", "2025-07-01") == ("Quận Ba Đình", "Quận", "01", "retired")


def test_a_file_for_one_province_retires_nothing_in_the_others(session: Session) -> None:
    two = HANOI + "Tỉnh Hà Giang,02,Thành phố Hà Giang,024,Phường Quang Trung,00688,Phường,\n"
    publish(session, plan_of(session, two, "2025-01-01"))
    only_hanoi = plan_of(session, HANOI.replace("Phường Phúc Xá", "Phường Phúc Xá Mới"),
                         "2025-02-01")
    assert only_hanoi.counts() == {"rename": 1}
    whole = plan_of(session, HANOI, "2025-02-01", whole_country=True)
    assert [op["code"] for op in whole.operations] == ["00688", "024", "02"]
    assert whole.counts() == {"retire": 3}


def test_a_district_type_change_is_a_reclassification(session: Session) -> None:
    publish(session, plan_of(session, HANOI, "2025-01-01"))
    town = HANOI.replace("Huyện Sóc Sơn", "Thị xã Sóc Sơn")
    plan = plan_of(session, town, "2025-02-01")
    assert [(op["op"], op["code"]) for op in plan.operations] == \
        [("rename", "016"), ("reclassify", "016")]
    assert ops(plan, "reclassify")[0]["type"] == "Thị xã"


def test_a_file_with_a_bad_row_imports_nothing(session: Session) -> None:
    bad = HANOI + "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Cống Vị,0000X,Phường,\n"
    plan = plan_of(session, bad, "2025-01-01")
    with pytest.raises(ValidationErrors) as caught:
        publish(session, plan)
    assert [(e.field, e.rule) for e in caught.value.errors] == [("file.csv:6", "code")]
    assert session.scalar(select(EntryVersion.id)) is None


def test_skipping_bad_rows_imports_the_rest_and_retires_nothing_they_name(
    session: Session,
) -> None:
    publish(session, plan_of(session, HANOI, "2025-01-01"))
    # 00013 is on a bad row now: it must not count as "missing from the file".
    bad = HANOI.replace("Phường Quán Thánh,00013,Phường", "Phường Quán Thánh,00013,Làng") \
        .replace("Phường Phúc Xá", "Phường Phúc Xá Mới")
    plan = plan_of(session, bad, "2025-02-01")
    assert [b.line for b in plan.bad] == [4]
    publish(session, plan, skip_bad=True)
    assert plan.counts() == {"rename": 1}
    assert state(session, "00013", "2025-02-01") == ("Phường Quán Thánh", "Phường", "001",
                                                     "active")


def test_a_code_closed_before_is_refused_by_the_planner(session: Session) -> None:
    publish(session, plan_of(session, HANOI, "2025-01-01"))
    publish(session, plan_of(session, HANOI.replace(
        "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Quán Thánh,00013,Phường,\n", ""),
        "2025-02-01"))
    plan = plan_of(session, HANOI, "2025-03-01")
    assert plan.counts() == {"create": 1}
    problems = dry_run(session, plan).errors
    assert [p.rule for p in problems] == ["code_reuse"]
    with pytest.raises(ValidationErrors):
        publish(session, plan)


def _records(session: Session, release: int) -> list[EntryVersion]:
    return list(session.scalars(select(EntryVersion)
                                .where(EntryVersion.recorded_release == release)))


def _state(row: EntryVersion) -> dict[str, Any]:
    return State(status=row.status, name=row.name, type=row.type, level=row.level,
                 parent=row.parent_code, short_name=row.short_name, name_en=row.name_en,
                 attributes=dict(row.attributes)).as_dict()


def assert_dry_run_is_what_publishing_made(session: Session, plan: ImportPlan) -> None:
    diff = dry_run(session, plan).diff()
    assert diff["errors"] == []
    release = publish(session, plan)
    records = _records(session, release)
    effective = plan.effective_date
    new = {(r.code, r.valid_from): _state(r) for r in records if r.valid_from == effective}
    closed = {r.code: _state(r) for r in records if r.valid_to == effective}
    assert {c["code"] for c in diff["changes"]} == {r.code for r in records}
    for change in diff["changes"]:
        assert new[(change["code"], effective)] == change["after"]
        if change["kind"] == "create":
            assert change["code"] not in closed
        else:
            assert closed[change["code"]] == change["before"]
    assert len(records) == len(new) + len(closed)
    assert diff["summary"]["links"] == 0


def test_a_dry_run_shows_exactly_the_diff_publishing_makes(session: Session) -> None:
    assert_dry_run_is_what_publishing_made(session, plan_of(session, PRE.read_bytes(),
                                                            "2025-01-01"))
    assert_dry_run_is_what_publishing_made(session, plan_of(session, POST.read_bytes(),
                                                            "2025-07-01"))


def test_the_2025_reform_of_lai_chau_through_the_importer(session: Session) -> None:
    # Another province in the registry shows that the file's scope is its own province.
    publish(session, plan_of(session, HANOI, "2025-01-01"))
    publish(session, plan_of(session, PRE.read_bytes(), "2025-01-01"))
    assert state(session, "03390", "2025-06-30") == ("Thị trấn Tam Đường", "Thị trấn", "106",
                                                     "active")
    plan = plan_of(session, POST.read_bytes(), "2025-07-01")
    communes_after = [line.split(",")[3] for line in POST.read_text().splitlines()[1:]]
    assert len(communes_after) == 38
    assert plan.counts() == {"rename": 22, "reclassify": 7, "move": 38, "retire": 76}
    assert plan.by_group() == {"12 Tỉnh Lai Châu": plan.counts()}
    renames = {op["code"]: op["name"] for op in ops(plan, "rename")}
    assert renames["03388"] == "Phường Đoàn Kết"  # was Phường Quyết Tiến
    assert renames["03390"] == "Xã Bình Lư"  # was Thị trấn Tam Đường
    assert renames["03442"] == "Xã Pa Ủ"  # a capital letter corrected: "Xã Pa ủ"
    assert {op["code"]: op["type"] for op in ops(plan, "reclassify")}["03390"] == "Xã"
    # Every commune of the file moves from its district to the province.
    assert {op["code"]: op["parent"] for op in ops(plan, "move")} == \
        dict.fromkeys(communes_after, "12")
    retired = [op["code"] for op in ops(plan, "retire")]
    assert retired[-8:] == ["105", "106", "107", "108", "109", "110", "111", "112"]
    assert len(retired) - 8 == 106 - 38  # the communes missing from the file
    assert not set(retired) & set(communes_after)
    publish(session, plan)
    assert state(session, "03390", "2025-07-01") == ("Xã Bình Lư", "Xã", "12", "active")
    assert state(session, "03390", "2025-06-30") == ("Thị trấn Tam Đường", "Thị trấn", "106",
                                                     "active")
    assert state(session, "105", "2025-07-01") == ("Thành phố Lai Châu", "Thành phố", "12",
                                                   "retired")
    assert state(session, "12", "2025-07-01") == ("Tỉnh Lai Châu", "Tỉnh", None, "active")
    assert state(session, "00004", "2025-07-01") == ("Phường Trúc Bạch", "Phường", "001",
                                                     "active")
    on_july = queries.list_entries(session, "admin-units", parent="12", as_of=d("2025-07-01"),
                                   first=100)
    assert sorted(e.code for e in on_july.items) == sorted(communes_after)
