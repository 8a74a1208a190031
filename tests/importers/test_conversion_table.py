"""The statistics office's conversion table as a reform change set: reading, planning,
defaults, districts, provinces, bad files, and the command."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from registry.cli import app
from registry.db import session_factory
from registry.errors import ValidationError, ValidationErrors
from registry.importers.conversion_plan import plan_conversion
from registry.importers.conversion_table import read_conversion_bytes, read_fixes
from registry.importers.plans import commit_import
from registry.models import ChangeSet
from registry.services import graph_reads, queries
from registry.services.actors import SYSTEM
from tests.conftest import Database
from tests.factories import BASIS, d, publish, unit

HEAD = ("Đơn vị hành chính từ ngày 01/7/2025,,,Đơn vị hành chính trước ngày 01/7/2025,,,,,\n"
        '"Tỉnh, thành phố",Tên Xã mới,Mã Xã mới,Tên Xã cũ,Mã Xã cũ,Ghi chú,Quận/huyện,'
        "Tỉnh cũ,\n")
HN, HG = "Thành phố Hà Nội (01)", "Tỉnh Hà Giang (02)"
BD, HK, YM = "Quận Ba Đình (001)", "Quận Hoàn Kiếm (002)", "Huyện Yên Minh (024)"
ROWS = [
    "THÀNH PHỐ HÀ NỘI  ,,,,,,,,",
    f"{HN},Phường Ba Đình,00004,Phường Trúc Bạch,00004,Nhập toàn bộ,{BD},{HN},",
    f"{HN},Phường Ba Đình,00004,Phường Quán Thánh,00013,Nhập toàn bộ,{BD},{HN},",
    f"{HN},Phường Ba Đình,00004,Phường Ngọc Hà,00016,Nhập một phần,{BD},{HN},",
    f"{HN},Phường Phúc Xá,00001,Phường Phúc Xá,00001,Nhập một phần,{BD},{HN},",
    f'{HN},Phường Phúc Xá,00001,Phường Ngọc Hà,00016,"Nhập một phần diện tích, toàn bộ dân '
    f'số",{BD},{HN},',
    f"{HN},Phường Hoàn Kiếm,00037,Phường Phúc Tân,00037,Nhập toàn bộ,{HK},{HN},",
    f"{HN},Phường Hoàn Kiếm,00037,Phường Phúc Xá,00001,Nhập một phần,{BD},{HN},",
    f"{HN},Phường Hoàn Kiếm,00037,Phường Đồng Xuân,00040,Nhập một phần,{HK},{HN},",
    f"{HN},Phường Ba Đình,00004,Phường Đồng Xuân,00040,Nhập một phần,{HK},{HN},",
    f"{HN},Xã Yên Minh,00700,Xã Yên Minh,00700,Giữ nguyên,{YM},{HG},",
    f"{HN},Xã Yên Minh,00700,Xã Mậu Duệ,00703,Nhập một phần,{YM},{HG},",
    f'{HN},"Xã Mậu\nDuệ",00706,Xã Mậu Duệ,00703,Nhập một phần,{YM},{HG},',
    f"{HN},Xã Mậu Duệ,00706,Xã Đông Minh,00706,Nhập toàn bộ,{YM},{HG},",
    f"{HN},Xã Kim Đông,00707,Xã Kim Đông,00707,Nhập toàn bộ,{YM},{HG},",
    f"{HN},Xã Kim Đông,00707,Khu vực bãi bồi ven sông,,Nhập toàn bộ,{YM},{HG},",
    f"{HN},Đặc khu Bạch Long Vĩ,11948,,,Sắp xếp toàn bộ huyện Bạch Long Vĩ thành đặc khu "
    f"Bạch Long Vĩ,Huyện Bạch Long Vĩ (318),{HN},",
]
TABLE = HEAD + "\n".join(ROWS) + "\n"


def baseline(session: Session) -> int:
    """Two provinces, three districts and an island district, before the reform."""
    return publish(session, [
        unit("01", "Thành phố Hà Nội", "Thành phố Trung ương"),
        unit("02", "Tỉnh Hà Giang", "Tỉnh"),
        unit("001", "Quận Ba Đình", "Quận", "01"),
        unit("002", "Quận Hoàn Kiếm", "Quận", "01"),
        unit("318", "Huyện Bạch Long Vĩ", "Huyện", "01"),
        unit("024", "Huyện Yên Minh", "Huyện", "02"),
        *[unit(c, n, "Phường", "001") for c, n in (
            ("00001", "Phường Phúc Xá"), ("00004", "Phường Trúc Bạch"),
            ("00013", "Phường Quán Thánh"), ("00016", "Phường Ngọc Hà"))],
        *[unit(c, n, "Phường", "002") for c, n in (
            ("00037", "Phường Phúc Tân"), ("00040", "Phường Đồng Xuân"))],
        *[unit(c, n, "Xã", "024") for c, n in (
            ("00700", "Xã Yên Minh"), ("00703", "Xã Mậu Duệ"), ("00706", "Xã Đông Minh"),
            ("00707", "Xã Kim Đông"))],
    ], "2025-01-01")


def plan_of(session: Session, text: str = TABLE, province: str | None = None) -> Any:
    return plan_conversion(session, read_conversion_bytes(text.encode(), "table.csv"),
                           d("2025-07-01"), province)


def sources_of(plan: Any, target: str) -> dict[str, tuple[str, bool]]:
    """The merge into ``target``: source code → (kind, default)."""
    sources = next(op["sources"] for op in plan.operations
                   if op["op"] == "merge" and op["target"]["code"] == target)
    return {s["code"]: (s["kind"], s["default"]) for s in sources}


# ---- reading ------------------------------------------------------------------------


def test_the_table_is_read_with_its_two_header_rows_and_province_separators() -> None:
    table = read_conversion_bytes(TABLE.encode(), "table.csv")
    assert len(table.links) == 16
    first = table.links[0]
    assert (first.line, first.new_province, first.new_code, first.old_code,
            first.old_district, first.old_province) == (4, "01", "00004", "00004", "001", "01")
    # a name broken over two lines inside quotes is one name
    assert {lk.new_name for lk in table.links if lk.new_code == "00706"} == {"Xã Mậu Duệ"}
    zone = table.links[-1]
    assert zone.old_code is None and zone.whole_district and zone.old_district == "318"


TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def cp1258(text: str) -> bytes:
    """Text as Windows-1258 writes Vietnamese: letters precomposed, tone marks combining."""
    out = []
    for char in text:
        try:
            out.append(char.encode("cp1258"))
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONES))
            out.append((base + "".join(c for c in parts if c in TONES)).encode("cp1258"))
    return b"".join(out)


@pytest.mark.parametrize("data", [TABLE.encode("utf-8-sig"), cp1258(TABLE),
                                  unicodedata.normalize("NFD", TABLE).encode()],
                         ids=["bom", "windows-1258", "nfd"])
def test_a_bom_windows_1258_or_nfd_file_reads_as_the_same_links(data: bytes) -> None:
    assert data != TABLE.encode()
    read = read_conversion_bytes(data, "t.csv").links
    assert read == read_conversion_bytes(TABLE.encode(), "t.csv").links


def test_an_xlsx_table_gives_the_same_links() -> None:
    import csv

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for cells in csv.reader(io.StringIO(TABLE)):
        sheet.append([int(c) if c.isdigit() and c in ("00004",) else c for c in cells])
    buffer = io.BytesIO()
    book.save(buffer)
    links = read_conversion_bytes(buffer.getvalue(), "t.xlsx").links
    assert [(lk.new_code, lk.old_code) for lk in links] == \
        [(lk.new_code, lk.old_code) for lk in read_conversion_bytes(TABLE.encode(), "t").links]


@pytest.mark.parametrize(("row", "field", "rule"), [
    (f"{HN},Phường Ba Đình,00004,Phường X,0001,Nhập toàn bộ,{BD},{HN},", "Mã Xã cũ",
     "pattern"),
    (f"{HN},Phường Ba Đình,4,Phường X,00001,Nhập toàn bộ,{BD},{HN},", "Mã Xã mới", "pattern"),
    (f"Hà Nội,Phường Ba Đình,00004,Phường X,00001,Nhập toàn bộ,{BD},{HN},",
     "Tỉnh, thành phố", "format"),
    (f"{HN},Phường Ba Đình,00004,Phường X,00001,Nhập toàn bộ,Ba Đình,{HN},", "Quận/huyện",
     "format"),
    (f"{HN},,00004,Phường X,00001,Nhập toàn bộ,{BD},{HN},", "Tên Xã mới", "required"),
    (f"{HN},Phường Ba Đình,00004,,,Nhập toàn bộ,{BD},{HN},", "Mã Xã cũ", "required"),
    (f"{HN},Phường Ba Đình,00004,Phường Trúc Bạch,00004,Nhập toàn bộ,{BD},{HN},", "Mã Xã cũ",
     "duplicate"),
    (f"{HN},Phường Hà Đông,00004,Phường Y,00031,Nhập toàn bộ,{BD},{HN},", "Tên Xã mới",
     "consistent"),
])
def test_a_bad_row_is_refused_naming_its_line_field_and_rule(row: str, field: str,
                                                             rule: str) -> None:
    text = HEAD + ROWS[1] + "\n" + row + "\n"
    with pytest.raises(ValidationErrors) as caught:
        read_conversion_bytes(text.encode(), "t.csv")
    error = caught.value.errors[0]
    assert error.field == f"t.csv:4: {field}" and error.rule == rule


def test_a_file_in_another_layout_is_refused_naming_the_columns() -> None:
    with pytest.raises(ValidationError) as caught:
        read_conversion_bytes(b"Ma,Ten\n01,X\n", "t.csv")
    assert caught.value.rule == "layout" and "Mã Xã cũ" in caught.value.message


def test_fixes_correct_a_published_typo_and_an_unmatched_fix_is_an_error() -> None:
    text = HEAD + ROWS[1] + "\n" + ROWS[2].replace("00013", "00031") + "\n"
    fixes = read_fixes(b"new,published,corrected\n00004,00031,00013\n", "fixes.csv")
    table = read_conversion_bytes(text.encode(), "t.csv", fixes)
    assert [lk.old_code for lk in table.links] == ["00004", "00013"]
    assert table.fixed == ["line 4: old code 00031 on the row of 00004 read as 00013"]
    with pytest.raises(ValidationErrors, match="no row of 00004 names old code 00099"):
        read_conversion_bytes(text.encode(), "t.csv", {("00004", "00099"): "00013"})
    with pytest.raises(ValidationError, match="five digits"):
        read_fixes(b"new,published,corrected\n00004,31,00013\n", "fixes.csv")


# ---- planning -----------------------------------------------------------------------


def test_the_plan_merges_communes_retires_districts_and_merges_provinces(
        session: Session) -> None:
    baseline(session)
    plan = plan_of(session)
    kinds = [(op["op"], op.get("code") or op["target"]["code"]) for op in plan.operations]
    assert kinds == [("merge", "00001"), ("merge", "00004"), ("merge", "00037"),
                     ("merge", "00700"), ("merge", "00706"), ("merge", "00707"),
                     ("merge", "11948"), ("retire", "001"), ("retire", "002"),
                     ("retire", "024"), ("merge", "01")]
    assert sources_of(plan, "01") == {"01": ("whole", True), "02": ("whole", True)}
    assert sources_of(plan, "11948") == {"318": ("whole", True)}
    target = next(op["target"] for op in plan.operations if op["op"] == "merge"
                  and op["target"]["code"] == "00706")
    assert {k: v for k, v in target.items() if v is not None} == {
        "code": "00706", "name": "Xã Mậu Duệ", "type": "Xã", "parent": "01",
        "short_name": "Mậu Duệ"}
    assert any("area without a code" in note and "Khu vực bãi bồi" in note
               for note in plan.notes)


def test_each_default_rule_in_order(session: Session) -> None:
    baseline(session)
    plan = plan_of(session)
    # 00016: the whole population went to 00001
    assert sources_of(plan, "00001")["00016"] == ("part", True)
    assert sources_of(plan, "00004")["00016"] == ("part", False)
    # 00001 keeps its code: it is its own default; its part in 00037 is not
    assert sources_of(plan, "00001")["00001"] == ("part", True)
    assert sources_of(plan, "00037")["00001"] == ("part", False)
    # 00703 Mậu Duệ: the successor that carries its name on
    assert sources_of(plan, "00706")["00703"] == ("part", True)
    assert sources_of(plan, "00700")["00703"] == ("part", False)
    # 00040: none of the above, the first listed successor (00037, on the earlier row)
    assert sources_of(plan, "00037")["00040"] == ("part", True)
    assert sources_of(plan, "00004")["00040"] == ("part", False)
    assert "defaults: whole population 1, keeps the code 1, keeps the name 1, first listed 1" \
        in plan.notes[0]
    assert sources_of(plan, "00004")["00013"] == ("whole", True)


def test_the_published_reform_resolves_as_the_table_says(session: Session) -> None:
    baseline(session)
    plan = plan_of(session)
    _, release = commit_import(session, SYSTEM, plan, "reform", BASIS, publish=True)
    assert release is not None
    after = d("2025-07-01")
    divided = graph_reads.resolve(session, "admin-units", "00016", after)
    assert divided.status == "ended" and divided.ambiguous
    assert [(s.entry.code, s.is_default) for s in divided.successors] == \
        [("00001", True), ("00004", False)]
    kept = graph_reads.resolve(session, "admin-units", "00001", after)
    assert kept.status == "active" and kept.ambiguous
    assert [(s.entry.code, s.is_default) for s in kept.successors] == \
        [("00001", True), ("00037", False)]
    assert [s.entry.code for s in
            graph_reads.resolve(session, "admin-units", "318", after).successors] == ["11948"]
    assert [s.entry.code for s in
            graph_reads.resolve(session, "admin-units", "02", after).successors] == ["01"]
    unit_after = queries.get_entry(session, "admin-units", "00706", after)
    assert unit_after is not None and (unit_after.name, unit_after.parent) == \
        ("Xã Mậu Duệ", "01")
    district = queries.get_entry(session, "admin-units", "024", after)
    assert district is not None and district.status == "retired"


def test_an_old_code_the_registry_does_not_hold_is_refused(session: Session) -> None:
    baseline(session)
    text = TABLE + f"{HN},Phường Ba Đình,00004,Phường Mới,00099,Nhập toàn bộ,{BD},{HN},\n"
    with pytest.raises(ValidationErrors) as caught:
        plan_of(session, text)
    assert [(e.field, e.rule) for e in caught.value.errors] == \
        [("table.csv:21: Mã Xã cũ", "unknown")]


def test_a_province_limit_is_refused_for_a_unit_divided_across_provinces(
        session: Session) -> None:
    baseline(session)
    publish(session, [unit("04", "Tỉnh Cao Bằng", "Tỉnh")], "2025-01-01")
    cb = "Tỉnh Cao Bằng (04)"
    text = TABLE + f"{cb},Xã Mới,01000,Xã Yên Minh,00700,Nhập một phần,{YM},{HG},\n"
    with pytest.raises(ValidationErrors) as caught:
        plan_of(session, text, province="01")
    assert caught.value.errors[0].rule == "scope"
    with pytest.raises(ValidationError, match="no new commune in province 09"):
        plan_of(session, province="09")


# ---- the command --------------------------------------------------------------------


def invoke(database: Database, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"REGISTRY_DATABASE_URL": database.url,
                                                    "COLUMNS": "200"})


def change_sets(database: Database) -> int:
    with session_factory(database.engine)() as session:
        return session.scalar(select(func.count(ChangeSet.id))) or 0


def test_the_command_dry_runs_publishes_and_refuses_a_bad_file(database: Database,
                                                               tmp_path: Path) -> None:
    with session_factory(database.engine)() as session:
        baseline(session)
        session.commit()
    good = tmp_path / "table.csv"
    good.write_text(TABLE, "utf-8")
    before = change_sets(database)
    dry = invoke(database, "import", "conversion-table", str(good), "--effective",
                 "2025-07-01", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "11 operations: retire 3, merge 8" in dry.output
    assert change_sets(database) == before
    bad = tmp_path / "bad.csv"
    bad.write_text(TABLE.replace("00013,Nhập", "0013,Nhập"), "utf-8")
    refused = invoke(database, "import", "conversion-table", str(bad), "--effective",
                     "2025-07-01", "--decision", "1/2025", "--decision-date", "2025-06-16",
                     "--issuer", "X", "--publish")
    assert refused.exit_code == 1
    assert "bad.csv:5: Mã Xã cũ: '0013' is not a five-digit commune code" in refused.output
    assert change_sets(database) == before
    done = invoke(database, "import", "conversion-table", str(good), "--effective",
                  "2025-07-01", "--decision", "1656/NQ-UBTVQH15", "--decision-date",
                  "2025-06-16", "--issuer", "Ủy ban Thường vụ Quốc hội", "--publish")
    assert done.exit_code == 0, done.output
    assert "published as release" in done.output
    assert change_sets(database) == before + 1
