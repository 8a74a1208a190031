"""Reading address parts: folding, type words, abbreviations, numbered wards, separators.

Pure functions with no database: what the matcher looks up is decided here.
"""

from __future__ import annotations

import unicodedata

import pytest

from registry.services.conversion.matcher import (
    GUESSES,
    SPELLING,
    Neighbours,
    confidence,
    one_edit,
    reason,
)
from registry.services.conversion.normalize import fold, name_keys, read_part, split_address


def readings(text: str) -> list[tuple[str, str | None, bool]]:
    return [(r.key, r.type, r.rewritten) for r in read_part(text).readings]


@pytest.mark.parametrize("text", [
    "Phường Quán Thánh", "PHƯỜNG QUÁN THÁNH", "phuong quan thanh", "  Phường   Quán  Thánh ",
    unicodedata.normalize("NFD", "Phường Quán Thánh"), "Phường Quán-Thánh."])
def test_case_diacritics_tone_marks_spaces_and_punctuation_fold_alike(text: str) -> None:
    assert fold(text) in ("phuong quan thanh",)


def test_d_with_stroke_folds_to_d() -> None:
    assert fold("Đống Đa") == "dong da"
    assert fold("ĐẮK LẮK") == "dak lak"


@pytest.mark.parametrize("text", ["P.Quán Thánh", "P. Quán Thánh", "p quan thanh",
                                  "P Quán Thánh", "Phường Quán Thánh", "phuong Quan Thanh"])
def test_a_ward_type_word_or_its_abbreviation_is_taken_off(text: str) -> None:
    first = readings(text)[0]
    assert first[:2] == ("quan thanh", "phuong")
    assert first[2] is (not text.lower().startswith(("phường", "phuong")))


@pytest.mark.parametrize(("text", "type_"), [
    ("Q. Ba Đình", "quan"), ("Q.Ba Đình", "quan"), ("H. Gia Lâm", "huyen"),
    ("TX. Sơn Tây", "thi xa"), ("Tx Sơn Tây", "thi xa"), ("TP. Thủ Đức", "thanh pho"),
    ("Tp Thủ Đức", "thanh pho"), ("X. Tân Lập", "xa"), ("TT. Yên Viên", "thi tran"),
    ("T. Lào Cai", "tinh"), ("Thị xã Sơn Tây", "thi xa"), ("Thị trấn Yên Viên", "thi tran")])
def test_abbreviations_of_every_type_word(text: str, type_: str) -> None:
    assert readings(text)[0][1] == type_


def test_a_name_that_looks_like_a_type_word_keeps_it_when_its_diacritics_say_so() -> None:
    # "Quán" is not "Quận": with diacritics there is one reading, the whole name.
    assert readings("Quán Thánh") == [("quan thanh", None, False)]
    # Without them both readings stay, the type first; the matcher tries each.
    assert readings("quan thanh") == [("thanh", "quan", False), ("quan thanh", None, False)]
    assert readings("Xà Phìn") == [("xa phin", None, False)]


@pytest.mark.parametrize("text", ["Phường 4", "P4", "P.04", "phuong 04", "P. 4", "p4", "F4",
                                  "Phường 04", "phuong4"])
def test_numbered_wards_in_every_spelling(text: str) -> None:
    key, type_, rewritten = readings(text)[0]
    assert (key, type_) == ("4", "phuong")
    assert rewritten is (text != "Phường 4")


@pytest.mark.parametrize("text", ["Q1", "Q.1", "Q. 1", "Quận 01", "q01"])
def test_numbered_districts(text: str) -> None:
    assert readings(text)[0][:2] == ("1", "quan")


def test_unit_names_in_the_index() -> None:
    assert name_keys("Phường Quán Thánh", "Phường") == ("phuong", "quán thánh",
                                                         ("quan thanh",))
    assert name_keys("Thành phố Hà Nội", "Thành phố Trung ương")[2] == ("ha noi",)
    assert name_keys("Phường 4", "Phường")[2] == ("4",)
    assert name_keys("Tỉnh Bà Rịa - Vũng Tàu", "Tỉnh")[2] == ("ba ria vung tau",)
    # An apostrophe is written with and without a space after it.
    assert set(name_keys("Xã Ea H'leo", "Xã")[2]) == {"ea hleo", "ea h leo"}
    assert set(name_keys("Xã K' Dang", "Xã")[2]) == {"k dang", "kdang"}


def test_split_on_commas_semicolons_and_dashes() -> None:
    assert split_address("P. Quán Thánh, Q. Ba Đình ,HN") == ["P. Quán Thánh", "Q. Ba Đình",
                                                             "HN"]
    assert split_address("Quán Thánh; Ba Đình; Hà Nội") == ["Quán Thánh", "Ba Đình", "Hà Nội"]
    assert split_address("Quán Thánh - Ba Đình - Hà Nội") == ["Quán Thánh", "Ba Đình",
                                                             "Hà Nội"]
    assert split_address("Quán Thánh,, Ba Đình") == ["Quán Thánh", "Ba Đình"]
    # With commas a dash belongs to a name.
    assert split_address("Văn Miếu - Quốc Tử Giám, Đống Đa") == [
        "Văn Miếu - Quốc Tử Giám", "Đống Đa"]
    assert split_address("Quán Thánh Ba Đình Hà Nội") == ["Quán Thánh Ba Đình Hà Nội"]


def test_one_edit_is_one_letter_added_dropped_changed_or_swapped() -> None:
    for a, b in [("quan thanh", "quan thnh"), ("quan thanh", "quan thanhh"),
                 ("quan thanh", "quan thenh"), ("quan thanh", "quan tahnh"),
                 ("quan thanh", "quanthanh")]:
        assert one_edit(a, b) and one_edit(b, a)
    for a, b in [("quan thanh", "quan thanh"), ("quan thanh", "quan th"),
                 ("quan thanh", "qaun tahnh"), ("abc", "bca")]:
        assert not one_edit(a, b)


def test_neighbours_find_names_one_edit_away_and_never_change_a_number() -> None:
    near = Neighbours(["quan thanh", "truc bach", "co nhue 1", "co nhue 2", "tan lap"])
    assert near.near("quan thnh") == ["quan thanh"]
    assert near.near("trucbach") == ["truc bach"]
    assert near.near("quan thanh") == []
    assert near.near("co nhye 1") == ["co nhue 1"]
    assert near.near("co nhue 3") == []
    assert near.near("tn") == []  # too short to correct


def test_a_spelling_correction_is_never_reported_with_high_confidence() -> None:
    every = 0
    for bit, _, _ in GUESSES:
        every |= bit
    for flags in range(every + 1):
        if flags & SPELLING:
            assert confidence(flags) < 0.9
    assert confidence(0) == 1.0 and reason(0) == ""
    assert all(confidence(bit) < 1.0 for bit, _, _ in GUESSES)
    assert reason(1 | SPELLING) == "abbreviation+spelling"
