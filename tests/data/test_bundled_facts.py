"""Facts of the bundled data, asserted through the registry after loading it.

The bundled change sets are loaded once per backend, exactly as ``registry demo`` loads
them, and every fact is read back through the query services and the CLI: counts before
and after the 2025 reform, the reused province codes, address conversion, the special
zones, and the other national lists.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from registry.cli import app
from registry.db import make_engine, session_factory
from registry.importers.bundled_load import LoadReport
from registry.services import graph_reads, queries
from registry.services.export_reads import all_links, entries_on, resolutions
from registry.services.queries import Resolution
from tests.conftest import Templates

BEFORE = date(2025, 6, 30)
AFTER = date(2025, 7, 1)
ISLAND_ZONES = {"11948": ("Đặc khu Bạch Long Vĩ", "31"), "19742": ("Đặc khu Cồn Cỏ", "44"),
                "20333": ("Đặc khu Hoàng Sa", "48"), "21548": ("Đặc khu Lý Sơn", "51"),
                "26732": ("Đặc khu Côn Đảo", "79")}


@pytest.fixture(scope="module")
def loaded(templates: Templates, backend: str) -> Iterator[tuple[str, Engine, LoadReport]]:
    """A database of this module's own with every bundled change set published (a copy of
    the session's loaded template, and the report of that load)."""
    url = templates.fresh_url(backend, "bundled")
    engine = make_engine(url)
    yield url, engine, templates.reports[backend]
    engine.dispose()


@pytest.fixture
def db(loaded: tuple[str, Engine, LoadReport]) -> Iterator[Session]:
    with session_factory(loaded[1])() as session:
        yield session


def by_level_and_type(session: Session, day: date) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for view in entries_on(session, "admin-units", day):
        out.setdefault(view.level, Counter())[view.type] += 1
    return out


def test_every_bundled_change_set_is_published(loaded: tuple[str, Engine, LoadReport]) -> None:
    report = loaded[2]
    assert report.skipped == 0
    assert len(report.published) == 43
    releases = [release for _, release in report.published]
    assert releases == sorted(releases) and len(set(releases)) == 43


def test_counts_the_day_before_the_reform(db: Session) -> None:
    counts = by_level_and_type(db, BEFORE)
    assert counts["province"] == {"Tỉnh": 57, "Thành phố Trung ương": 6}
    assert counts["district"] == {"Huyện": 508, "Quận": 49, "Thành phố": 87, "Thị xã": 52}
    assert sum(counts["district"].values()) == 696
    # The reference sheet's 7,695 / 1,724 / 616 come from a package's type column; the
    # data follows the statistics office's tables (the state the day before the reform),
    # see docs/data-sources.md. The total, 10,035, is the reference figure.
    assert counts["commune"] == {"Xã": 7690, "Phường": 1728, "Thị trấn": 617}
    assert sum(counts["commune"].values()) == 10035


def test_counts_on_the_day_of_the_reform(db: Session) -> None:
    counts = by_level_and_type(db, AFTER)
    assert counts["province"] == {"Tỉnh": 28, "Thành phố Trung ương": 6}
    assert "district" not in counts  # the district level is abolished
    assert counts["commune"] == {"Xã": 2621, "Phường": 687, "Đặc khu": 13}
    assert sum(counts["commune"].values()) == 3321


def test_code_15_is_yen_bai_before_and_lao_cai_after(db: Session) -> None:
    assert queries.require_entry(db, "admin-units", "15", BEFORE).name == "Tỉnh Yên Bái"
    assert queries.require_entry(db, "admin-units", "15", AFTER).name == "Tỉnh Lào Cai"
    assert queries.require_entry(db, "admin-units", "10", BEFORE).name == "Tỉnh Lào Cai"
    assert queries.get_entry(db, "admin-units", "10", AFTER).status == "retired"  # type: ignore[union-attr]
    moved = {"24": ("Tỉnh Bắc Giang", "Tỉnh Bắc Ninh"),
             "44": ("Tỉnh Quảng Bình", "Tỉnh Quảng Trị"),
             "52": ("Tỉnh Bình Định", "Tỉnh Gia Lai"), "80": ("Tỉnh Long An", "Tỉnh Tây Ninh"),
             "82": ("Tỉnh Tiền Giang", "Tỉnh Đồng Tháp"),
             "91": ("Tỉnh Kiên Giang", "Tỉnh An Giang")}
    for code, (before, after) in moved.items():
        assert queries.require_entry(db, "admin-units", code, BEFORE).name == before
        assert queries.require_entry(db, "admin-units", code, AFTER).name == after


def test_00013_resolves_to_00004_on_the_day_of_the_reform(db: Session) -> None:
    found = graph_reads.resolve(db, "admin-units", "00013", AFTER)
    assert found.status == "ended" and found.ended_on == AFTER
    assert found.entry is not None and found.entry.name == "Phường Quán Thánh"
    assert [(s.entry.code, s.entry.name, s.is_default) for s in found.successors] == \
        [("00004", "Phường Ba Đình", True)]
    assert graph_reads.resolve(db, "admin-units", "00013", BEFORE).status == "active"


def test_a_ward_that_kept_its_code_and_gave_part_of_its_area_away(db: Session) -> None:
    # Phường Hàng Trống kept code 00070 as Phường Hoàn Kiếm; part of it went to Cửa Nam.
    found = graph_reads.resolve(db, "admin-units", "00070", AFTER)
    assert (found.status, found.ambiguous, found.divided_on) == ("active", True, AFTER)
    assert [(s.entry.code, s.entry.name, s.is_default) for s in found.successors] == [
        ("00070", "Phường Hoàn Kiếm", True), ("00082", "Phường Cửa Nam", False)]
    before = graph_reads.resolve(db, "admin-units", "00070", BEFORE)
    assert (before.status, before.ambiguous, before.successors) == ("active", False, [])


def test_the_resolve_command_prints_the_answer(loaded: tuple[str, Engine, LoadReport]) -> None:
    result = CliRunner().invoke(app, ["resolve", "admin-units", "00013", "--as-of",
                                      "2025-07-01"],
                                env={"REGISTRY_DATABASE_URL": loaded[0], "COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "00013 (Phường Quán Thánh) ended on 2025-07-01" in result.output
    assert "default 00004 Phường Ba Đình (Phường)" in result.output


def test_the_five_island_special_zones(db: Session) -> None:
    zones = {v.code: (v.name, v.parent) for v in entries_on(db, "admin-units", AFTER)
             if v.type == "Đặc khu" and v.code in ISLAND_ZONES}
    assert zones == ISLAND_ZONES
    for code in ISLAND_ZONES:
        # New codes: none of them named anything before the reform.
        assert graph_reads.resolve(db, "admin-units", code, BEFORE).status == "not_yet"
    # The island districts they replace resolve to them.
    for district, zone in (("318", "11948"), ("471", "19742"), ("498", "20333"),
                           ("536", "21548"), ("755", "26732")):
        resolved = graph_reads.resolve(db, "admin-units", district, AFTER)
        assert [(s.entry.code, s.is_default) for s in resolved.successors] == [(zone, True)]


def test_new_communes_carry_a_predecessors_code_except_the_island_zones(db: Session) -> None:
    before = {v.code for v in entries_on(db, "admin-units", BEFORE)}
    after = [v.code for v in entries_on(db, "admin-units", AFTER) if v.level == "commune"]
    kept = [code for code in after if code in before]
    assert len(kept) == 3316
    assert sorted(set(after) - before) == sorted(ISLAND_ZONES)


def test_divided_communes_have_exactly_one_default_successor(db: Session) -> None:
    found = graph_reads.resolve(db, "admin-units", "10000", AFTER)
    assert found.ambiguous
    assert sum(s.is_default for s in found.successors) == 1


def test_the_other_national_lists(db: Session) -> None:
    groups = {c: queries.require_entry(db, "ethnic-groups", c, AFTER).name
              for c in ("01", "04", "05", "06")}
    assert groups == {"01": "Kinh", "04": "Mường", "05": "Khơ me", "06": "Hoa"}  # 2008 order
    assert queries.require_entry(db, "agencies", "000.00.00.G01", AFTER).name == "Bộ Công an"
    assert queries.require_entry(db, "agencies", "000.00.00.G22", AFTER).name == \
        "Văn phòng Chính phủ"
    counts = queries.count_entries(db, AFTER)
    assert counts["ethnic-groups"] == 54
    assert counts["nationalities"] == 249
    assert counts["agencies"] >= 17
    assert counts["procedures"] >= 1 and counts["genders"] >= 2


# ---- the official conversion table, read here with a plain CSV reader ----------------

SOURCES = Path(__file__).resolve().parents[2] / "registry" / "data" / "sources"


def official_successors() -> tuple[dict[str, set[str]], dict[str, str]]:
    """Old commune → its successors in the office's table (typos fixed); and the
    successor that the note gives the whole population ("toàn bộ dân số")."""
    fixes = {(r[0], r[1]): r[2] for r in list(csv.reader(
        (SOURCES / "nso-conversion-2025-07-01-fixes.csv").open(encoding="utf-8")))[1:]}
    successors: dict[str, set[str]] = defaultdict(set)
    people: dict[str, str] = {}
    with (SOURCES / "nso-conversion-2025-07-01.csv").open(encoding="utf-8") as handle:
        for cells in list(csv.reader(handle))[2:]:
            cells = [" ".join(c.split()) for c in cells]
            if sum(1 for c in cells if c) <= 1 or not cells[4]:
                continue
            old = fixes.get((cells[2], cells[4]), cells[4])
            successors[old].add(cells[2])
            if "toàn bộ dân số" in cells[5]:
                people[old] = cells[2]
    return successors, people


def check_official(code: str, found: Resolution, expected: set[str],
                   people: dict[str, str]) -> list[str]:
    """What is wrong with one answer, compared with the office's table (empty: nothing)."""
    problems = []
    got = {s.entry.code for s in found.successors} or (
        {found.entry.code} if found.entry is not None else set())
    if got != expected:
        problems.append(f"{code}: {sorted(got)} != {sorted(expected)}")
    defaults = [s.entry.code for s in found.successors if s.is_default]
    if len(expected) > 1 and (not found.ambiguous or len(defaults) != 1
                              or defaults[0] not in expected):
        problems.append(f"{code}: default {defaults}")
    if len(expected) > 1 and code in people and defaults != [people[code]]:
        problems.append(f"{code}: default {defaults}, the people went to {people[code]}")
    return problems


def test_every_old_commune_resolves_to_its_official_successors(db: Session) -> None:
    successors, people = official_successors()
    assert len(successors) == 10_035
    # All 10,035 through the bulk answers (the same resolution_of as resolve, one read)...
    answers = resolutions("admin-units", AFTER, entries_on(db, "admin-units", AFTER,
                                                           statuses=None),
                          all_links(db, "admin-units", until=AFTER))
    problems = [p for code, expected in successors.items()
                for p in check_official(code, answers[code], expected, people)]
    assert problems == []
    # ... and one in twenty, every divided one among them, through resolve itself.
    sample = [c for i, c in enumerate(successors) if i % 20 == 0 or len(successors[c]) > 1]
    assert len(sample) > 900
    problems = [p for code in sample for p in check_official(
        code, graph_reads.resolve(db, "admin-units", code, AFTER), successors[code], people)]
    assert problems == []


def test_the_packages_lineage_errors_are_not_in_the_registry(db: Session) -> None:
    # 09013 Văn Khê went in part to 09817 Ô Diên; a package had lost that link.
    van_khe = graph_reads.resolve(db, "admin-units", "09013", AFTER)
    assert "09817" in {s.entry.code for s in van_khe.successors}
    # 10798 never went to 11911.
    assert "11911" not in {s.entry.code for s in
                           graph_reads.resolve(db, "admin-units", "10798", AFTER).successors}
    # All of 31379 Xã Phú Tân went to 31378.
    phu_tan = graph_reads.resolve(db, "admin-units", "31379", AFTER)
    assert [(s.entry.code, s.is_default) for s in phu_tan.successors] == [("31378", True)]


def test_pre_reform_names_follow_the_offices_list(db: Session) -> None:
    names = {code: queries.require_entry(db, "admin-units", code, BEFORE).name
             for code in ("00736", "00181", "03997")}
    assert names == {"00736": "Xã Xà Phìn", "00181": "Phường Văn Miếu - Quốc Tử Giám",
                     # renamed between January and the reform: the later name is kept
                     "03997": "Xã Tân Yên"}


def test_every_bundled_list_says_what_it_is(db: Session) -> None:
    viet_nam = queries.require_entry(db, "nationalities", "VN", AFTER)
    assert (viet_nam.name, viet_nam.name_en) == ("Việt Nam", "Viet Nam")
    from registry.services.code_lists import get_list

    assert "mẫu minh họa" in get_list(db, "procedures").name
    assert "sample" in (get_list(db, "procedures").name_en or "").lower()


def test_lineage_joins_versions_of_a_code_not_codes(db: Session) -> None:
    # Tân Xã (10000) went into Hạ Bằng (09982) and Hòa Lạc (09988), both codes reused that
    # day; the old 09988 (Thạch Hòa) went partly to Yên Xuân (04930), which is not where
    # any of Tân Xã went. The CLI and GraphQL answer with this same walk.
    onward = queries.lineage(db, "admin-units", "10000", "successors")
    assert {(link.from_code, link.to_code) for link in onward} == {("10000", "09982"),
                                                                   ("10000", "09988")}
    assert {link.depth for link in onward} == {1}
    assert "04930" in {link.to_code for link in
                       queries.lineage(db, "admin-units", "09988", "successors")}
    # Backward, Hòa Lạc's own predecessors on 2025-07-01 include Tân Xã, and the walk does
    # not continue to what the codes that reached it were before an earlier generation.
    back = queries.lineage(db, "admin-units", "09988", "predecessors")
    assert ("10000", "09988") in {(link.from_code, link.to_code) for link in back}
    assert all(link.effective_date <= AFTER for link in back)
