"""Free-text addresses to the units they name, on a small reform, on both backends.

Before 2025-07-01: Hà Nội (Ba Đình: Phúc Xá, Trúc Bạch, Quán Thánh; Hoàn Kiếm: Phúc Tân;
Gia Lâm: Xã Tân Lập, Thị trấn Yên Viên, Xã Yên Viên; Đan Phượng: another Xã Tân Lập) and
Hồ Chí Minh (Quận 5: Phường 4, Phường 5; Quận 6: another Phường 4). On 2025-07-01 Trúc
Bạch and Quán Thánh become Phường Ba Đình (code 00004), Phúc Xá is divided between Hồng Hà
(the default) and Ngọc Hà, and Quận 5's Phường 4 and 5 become Phường Chợ Quán (27301).
"""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy.orm import Session

from registry.services.conversion import Conversion, Gazetteer, load_gazetteer
from tests.factories import d, hanoi, publish, unit

AU = "admin-units"


def ward(code: str, name: str, parent: str) -> dict[str, str]:
    return {"code": code, "name": name, "type": "Phường", "parent": parent}


def small_reform(session: Session) -> Gazetteer:
    hanoi(session)
    publish(session, [
        unit("003", "Huyện Gia Lâm", "Huyện", "01"),
        unit("00500", "Xã Tân Lập", "Xã", "003"),
        unit("00503", "Thị trấn Yên Viên", "Thị trấn", "003"),
        unit("00506", "Xã Yên Viên", "Xã", "003"),
        unit("004", "Huyện Đan Phượng", "Huyện", "01"),
        unit("00600", "Xã Tân Lập", "Xã", "004"),
        unit("79", "Thành phố Hồ Chí Minh", "Thành phố Trung ương"),
        unit("774", "Quận 5", "Quận", "79"),
        unit("27301", "Phường 4", "Phường", "774"),
        unit("27304", "Phường 5", "Phường", "774"),
        unit("775", "Quận 6", "Quận", "79"),
        unit("27400", "Phường 4", "Phường", "775"),
    ])
    publish(session, [
        {"op": "merge", "list": AU, "sources": ["00004", "00013"],
         "target": ward("00004", "Phường Ba Đình", "01")},
        {"op": "split", "list": AU, "source": "00001", "targets": [
            {**ward("00090", "Phường Hồng Hà", "01"), "default": True},
            ward("00091", "Phường Ngọc Hà", "01")]},
        {"op": "merge", "list": AU, "sources": ["27301", "27304"],
         "target": ward("27301", "Phường Chợ Quán", "79")},
    ], "2025-07-01")
    return load_gazetteer(session, to_date=d("2025-07-01"))


@pytest.fixture
def gazetteer(session: Session) -> Gazetteer:
    return small_reform(session)


def shape(c: Conversion) -> tuple[str, str | None, list[tuple[str, bool]]]:
    return (c.status, c.old.code if c.old else None,
            [(x.unit.code, x.is_default) for x in c.new])


def test_the_source_date_is_the_day_before_the_reform(gazetteer: Gazetteer) -> None:
    # No date given: each unit as it was the day before its own latest change.
    assert gazetteer.from_date is None
    assert gazetteer.old["00004"].name == "Phường Trúc Bạch"
    assert gazetteer.old["00004"].district_code == "001"
    assert gazetteer.matcher is gazetteer.matcher  # built once


# -- exact --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Phường Quán Thánh, Quận Ba Đình, Thành phố Hà Nội",
    "Quán Thánh, Ba Đình, Hà Nội",
    "PHƯỜNG QUÁN THÁNH, QUẬN BA ĐÌNH, HÀ NỘI",
    unicodedata.normalize("NFD", "Phường Quán Thánh, Quận Ba Đình, Hà Nội"),
    "phuong quan thanh, quan ba dinh, ha noi",
    "  Phường   Quán Thánh ,Quận Ba Đình,,  Hà Nội. ",
    "Quán Thánh, Ba Đình, Hà Nội, Việt Nam",
])
def test_every_part_matched_after_folding_is_exact(gazetteer: Gazetteer, text: str) -> None:
    got = gazetteer.convert_address(text)
    assert shape(got) == ("exact", "00013", [("00004", True)])
    assert (got.confidence, got.reason, got.alternatives) == (1.0, "", ())
    assert got.old is not None and got.old.district_code == "001"
    assert got.new[0].unit.name == "Phường Ba Đình"


def test_an_address_gives_the_same_lineage_answer_as_the_code(gazetteer: Gazetteer) -> None:
    for text, code in [("Quán Thánh, Ba Đình, Hà Nội", "00013"),
                       ("Phúc Xá, Ba Đình, Hà Nội", "00001"),
                       ("Phường 4, Quận 5, Hồ Chí Minh", "27301"),
                       ("Phúc Tân, Hoàn Kiếm, Hà Nội", "00037")]:
        by_name, by_code = gazetteer.convert_address(text), gazetteer.convert_code(code)
        assert by_name.old == by_code.old and by_name.new == by_code.new
        assert by_name.status == by_code.status


# -- matched: abbreviations, reordering, an omitted part, a spelling correction ----------

@pytest.mark.parametrize("text", [
    "P. Quán Thánh, Q. Ba Đình, HN", "P.Quán Thánh, Q.Ba Đình, TP.Hà Nội",
    "p quan thanh, q ba dinh, tp ha noi", "P Quán Thánh - Q Ba Đình - Hà Nội",
    "Phường Quán Thánh, Quận Ba Đình, Hanoi",
])
def test_abbreviations_are_matched_not_exact(gazetteer: Gazetteer, text: str) -> None:
    got = gazetteer.convert_address(text)
    assert shape(got) == ("matched", "00013", [("00004", True)])
    assert "abbreviation" in got.reason and 0.9 <= got.confidence < 1.0


@pytest.mark.parametrize(("text", "code"), [
    ("Phường 4, Quận 5, TP HCM", "27301"), ("P4, Q5, HCM", "27301"),
    ("P.04, Q.05, Sài Gòn", "27301"), ("phuong 04, quan 5, tphcm", "27301"),
    ("P. 4, Q. 6, TP. Hồ Chí Minh", "27400"), ("Phường 5, Quận 5, Thành phố Hồ Chí Minh",
                                                "27304"),
])
def test_numbered_wards(gazetteer: Gazetteer, text: str, code: str) -> None:
    got = gazetteer.convert_address(text)
    assert got.old is not None and got.old.code == code
    assert got.status in ("exact", "matched") and got.default is not None
    assert got.default.unit.code == ("27400" if code == "27400" else "27301")


def test_a_numbered_ward_without_its_district_is_ambiguous(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Phường 4, TP HCM")
    assert (got.status, got.reason, got.old, got.new) == ("ambiguous", "same_name", None, ())
    assert [u.code for u in got.alternatives] == ["27301", "27400"]


@pytest.mark.parametrize("text", ["Hà Nội, Ba Đình, Quán Thánh", "Ba Đình, Quán Thánh, Hà Nội",
                                  "Quán Thánh, Hà Nội, Ba Đình"])
def test_parts_in_another_order(gazetteer: Gazetteer, text: str) -> None:
    got = gazetteer.convert_address(text)
    assert shape(got) == ("matched", "00013", [("00004", True)])
    assert "reordered" in got.reason and got.confidence < 1.0


def test_an_omitted_district_is_matched_with_less_confidence(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Quán Thánh, Hà Nội")
    assert shape(got) == ("matched", "00013", [("00004", True)])
    assert got.reason == "no_district" and got.confidence < 0.9


def test_an_omitted_province_too(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Quán Thánh, Ba Đình")
    assert shape(got) == ("matched", "00013", [("00004", True)])
    assert got.reason == "no_province" and got.confidence < 0.9
    alone = gazetteer.convert_address("Phường Quán Thánh")
    assert alone.status == "matched" and alone.confidence < got.confidence


@pytest.mark.parametrize("text", ["Quán Thnh, Ba Đình, Hà Nội", "Quán Thánh, Ba Đìnhh, Hà Nội",
                                  "Quán Thánh, Ba Đình, Hà Nộii", "Quan Tahnh, Ba Dinh, Ha Noi",
                                  "QuánThánh, Ba Đình, Hà Nội"])
def test_one_letter_off_is_corrected_below_high_confidence(gazetteer: Gazetteer,
                                                           text: str) -> None:
    got = gazetteer.convert_address(text)
    assert shape(got) == ("matched", "00013", [("00004", True)])
    assert "spelling" in got.reason and got.confidence < 0.9


def test_a_correction_never_changes_a_number(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Phường 7, Quận 5, TP HCM")
    assert (got.status, got.old) == ("not_found", None), got


def test_no_separators(gazetteer: Gazetteer) -> None:
    for text in ("Phường Quán Thánh Quận Ba Đình Hà Nội", "quan thanh ba dinh ha noi"):
        got = gazetteer.convert_address(text)
        assert shape(got) == ("matched", "00013", [("00004", True)])
        assert "no_separators" in got.reason
    got = gazetteer.convert_address("P4 Q5 HCM")
    assert got.old is not None and got.old.code == "27301"


def test_a_type_word_that_differs(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Xã Quán Thánh, Ba Đình, Hà Nội")
    assert shape(got) == ("matched", "00013", [("00004", True)])
    assert got.reason == "type_differs"


# -- ambiguous ----------------------------------------------------------------------------

def test_the_same_name_in_two_districts_is_ambiguous_without_the_district(
    gazetteer: Gazetteer,
) -> None:
    got = gazetteer.convert_address("Xã Tân Lập, Hà Nội")
    assert (got.status, got.reason, got.old, got.new) == ("ambiguous", "same_name", None, ())
    assert [u.code for u in got.alternatives] == ["00500", "00600"]
    assert got.confidence < 0.5
    # The district decides.
    assert shape(gazetteer.convert_address("Tân Lập, Đan Phượng, Hà Nội")) == (
        "exact", "00600", [("00600", True)])
    assert shape(gazetteer.convert_address("X. Tân Lập, H. Gia Lâm, HN")) == (
        "matched", "00500", [("00500", True)])


def test_the_type_word_tells_a_town_from_a_commune_of_the_same_name(
    gazetteer: Gazetteer,
) -> None:
    got = gazetteer.convert_address("Yên Viên, Gia Lâm, Hà Nội")
    assert (got.status, got.reason) == ("ambiguous", "same_name")
    assert [u.code for u in got.alternatives] == ["00503", "00506"]
    assert shape(gazetteer.convert_address("Thị trấn Yên Viên, Gia Lâm, Hà Nội"))[1] == "00503"
    assert shape(gazetteer.convert_address("TT. Yên Viên, Gia Lâm, Hà Nội"))[1] == "00503"
    assert shape(gazetteer.convert_address("Xã Yên Viên, Gia Lâm, Hà Nội"))[1] == "00506"


def test_a_divided_commune_is_ambiguous_with_every_candidate(gazetteer: Gazetteer) -> None:
    for text in ("Phường Phúc Xá, Quận Ba Đình, Hà Nội", "P. Phuc Xa, Q. Ba Dinh, HN"):
        got = gazetteer.convert_address(text)
        assert shape(got) == ("ambiguous", "00001", [("00090", True), ("00091", False)])
        assert got.reason == "divided" and got.confidence <= 0.5
        assert got.new == gazetteer.convert_code("00001").new


# -- not found ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["Phường Không Có, Quận Ba Đình, Hà Nội", "", " , ; ",
                                  "Hà Nội", "Quận Ba Đình, Hà Nội"])
def test_nothing_fits(gazetteer: Gazetteer, text: str) -> None:
    got = gazetteer.convert_address(text)
    assert (got.status, got.old, got.new, got.confidence) == ("not_found", None, (), 0.0)
    assert got.reason == "unknown_name"


def test_a_name_of_another_province_is_not_taken_from_the_province_given(
    gazetteer: Gazetteer,
) -> None:
    got = gazetteer.convert_address("Phường 4, Quận 5, Hà Nội")
    assert got.status == "not_found"


# -- separate fields ----------------------------------------------------------------------

def test_names_in_separate_fields(gazetteer: Gazetteer) -> None:
    assert shape(gazetteer.convert_names("Quán Thánh", "Ba Đình", "Hà Nội")) == (
        "exact", "00013", [("00004", True)])
    assert shape(gazetteer.convert_names("P4", "Q5", "HCM")) == (
        "matched", "27301", [("27301", True)])
    got = gazetteer.convert_names("Tân Lập", None, "Hà Nội")
    assert (got.status, [u.code for u in got.alternatives]) == ("ambiguous",
                                                                ["00500", "00600"])
    assert gazetteer.convert_names("Tân Lập", "", " ").status == "ambiguous"
    assert gazetteer.convert_names(None, None, None).status == "not_found"


def test_answers_are_json_ready(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("P. Quán Thánh, Q. Ba Đình, HN").as_dict()
    assert (got["status"], got["old"]["code"], got["new"][0]["code"]) == (
        "matched", "00013", "00004")
    same = gazetteer.convert_address("Tân Lập, Hà Nội").as_dict()
    assert [u["code"] for u in same["alternatives"]] == ["00500", "00600"]


def test_a_later_change_does_not_move_the_source_date_of_the_other_units(
        session: Session) -> None:
    # After the reform a steward records a transfer in 2026: without a source date, every
    # other unit is still read as it was before its own latest change (the reform).
    small_reform(session)
    publish(session, [{"op": "transfer", "list": AU, "from": "00090", "to": "00004",
                       "share": 0.1}], "2026-03-01")
    later = load_gazetteer(session, None, d("2026-06-01"))
    assert later.from_date is None
    assert later.convert_code("00013").status == "exact"  # a pre-reform code still converts
    assert later.old["00013"].district_code == "001"
    assert later.old["00090"].name == "Phường Hồng Hà"  # read before 2026-03-01
    # With an explicit source date after the reform, pre-reform codes are unknown.
    assert load_gazetteer(session, d("2026-02-01"), d("2026-06-01")).convert_code(
        "00013").reason == "unknown_code"
