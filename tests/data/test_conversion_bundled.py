"""Real addresses converted on the bundled data: the pre-reform units of 2025-06-30 and
what each is from 2025-07-01, by the official lineage.

The bundled change sets are loaded once per backend, as ``registry demo`` loads them, and
one gazetteer is read from them per backend; every test converts addresses against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine

from registry.db import make_engine, session_factory
from registry.services.conversion import Conversion, Gazetteer, load_gazetteer
from tests.conftest import Templates

AFTER = date(2025, 7, 1)


@pytest.fixture(scope="module")
def loaded(templates: Templates, backend: str) -> Iterator[Engine]:
    """A database of this module's own with every bundled change set published."""
    engine = make_engine(templates.fresh_url(backend, "bundled"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def gazetteer(loaded: Engine) -> Gazetteer:
    with session_factory(loaded)() as session:
        return load_gazetteer(session, to_date=AFTER)


def new(c: Conversion) -> list[tuple[str, str, bool]]:
    return [(x.unit.code, x.unit.name, x.is_default) for x in c.new]


def test_the_addresses_describe_the_day_before_the_reform(gazetteer: Gazetteer) -> None:
    # No date given: each unit as it was the day before its own latest change, which for
    # every unit the reform touched is 2025-06-30.
    assert gazetteer.from_date is None
    assert (gazetteer.old["00004"].name, gazetteer.old["00004"].district_code) == \
        ("Phường Trúc Bạch", "001")
    assert gazetteer.old["15"].name == "Tỉnh Yên Bái"
    assert date(2025, 6, 30) < gazetteer.to_date


@pytest.mark.parametrize("text", ["P. Quán Thánh, Q. Ba Đình, HN",
                                  "Phường Quán Thánh, Quận Ba Đình, Thành phố Hà Nội",
                                  "phuong quan thanh quan ba dinh ha noi"])
def test_quan_thanh_is_now_ba_dinh(gazetteer: Gazetteer, text: str) -> None:
    got = gazetteer.convert_address(text)
    assert got.old is not None and (got.old.code, got.old.name) == ("00013",
                                                                    "Phường Quán Thánh")
    assert new(got) == [("00004", "Phường Ba Đình", True)]
    assert got.status == ("exact" if text.startswith("Phường") else "matched")


def test_a_numbered_ward_of_ho_chi_minh_city(gazetteer: Gazetteer) -> None:
    for text in ("Phường 4, Quận 5, TP HCM", "P.04, Q.5, Sài Gòn", "P4 Q5 TPHCM"):
        got = gazetteer.convert_address(text)
        assert got.old is not None and (got.old.code, got.old.district_name) == (
            "27301", "Quận 5")
        assert (got.status, new(got)) == ("matched", [("27301", "Phường Chợ Quán", True)])


def test_a_divided_ward_is_ambiguous_with_all_its_candidates(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Phường Ngọc Hà, Quận Ba Đình, Hà Nội")
    assert (got.status, got.reason) == ("ambiguous", "divided")
    assert got.old is not None and got.old.code == "00016"
    assert new(got) == [("00008", "Phường Ngọc Hà", True), ("00004", "Phường Ba Đình", False)]
    assert got.new == gazetteer.convert_code("00016").new


def test_a_kept_code_that_gave_parts_away_is_ambiguous_too(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Ngọc Khánh, Ba Đình, Hà Nội")
    assert (got.status, got.reason) == ("ambiguous", "kept_code_gave_parts")
    assert [c[0] for c in new(got)] == ["00025", "00008", "00199"]
    assert new(got)[0] == ("00025", "Phường Giảng Võ", True)


def test_names_that_differ_only_in_diacritics_or_type(gazetteer: Gazetteer) -> None:
    both = gazetteer.convert_address("Sa Pa, Sa Pa, Lao Cai")
    assert (both.status, both.reason) == ("ambiguous", "same_name")
    assert [(u.code, u.name) for u in both.alternatives] == [("03001", "Phường Sa Pa"),
                                                             ("03002", "Phường Sa Pả")]
    one = gazetteer.convert_address("Phường Sa Pả, Thị xã Sa Pa, Lào Cai")
    assert (one.status, one.old.code if one.old else None) == ("exact", "03002")
    town = gazetteer.convert_address("Mường Tè, Lai Châu")
    assert (town.status, [u.type for u in town.alternatives]) == ("ambiguous",
                                                                  ["Thị trấn", "Xã"])
    assert gazetteer.convert_address("TT Mường Tè, Mường Tè, Lai Châu").status == "matched"


def test_noise(gazetteer: Gazetteer) -> None:
    cases = {
        "Phuong Quan Thanh, Quan Ba Dinh, Ha Noi": ("exact", 1.0),
        "Quán Thnh, Ba Đình, Hà Nội": ("matched", 0.8),
        "Hà Nội, Ba Đình, Quán Thánh": ("matched", 0.93),
        "Quán Thánh, Hà Nội": ("matched", 0.88),
    }
    for text, (status, confidence) in cases.items():
        got = gazetteer.convert_address(text)
        assert got.old is not None and got.old.code == "00013", text
        assert (got.status, got.confidence) == (status, confidence), text


def test_an_island_district_without_communes_is_itself_the_unit(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Huyện Côn Đảo, Bà Rịa - Vũng Tàu")
    assert got.old is not None and (got.old.code, got.old.level) == ("755", "district")
    assert (got.status, new(got)) == ("exact", [("26732", "Đặc khu Côn Đảo", True)])
    assert gazetteer.convert_address("Côn Đảo - BRVT").status == "matched"


def test_a_name_split_at_its_own_dash(gazetteer: Gazetteer) -> None:
    got = gazetteer.convert_address("Văn Miếu - Quốc Tử Giám - Đống Đa - Hà Nội")
    assert got.old is not None and got.old.name == "Phường Văn Miếu - Quốc Tử Giám"
