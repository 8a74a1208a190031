#!/usr/bin/env python3
"""Generate the registry's bundled reference data in ``registry/data/`` from public sources.

Run from the repository root, after installing the generation-time sources::

    pip install vietnamadminunits pycountry
    python scripts/build_data.py

The output is committed; the registry never runs this script and never imports its
sources. The output is deterministic: the same sources give byte-identical files.

What it writes (docs/data-sources.md explains every source, licence and deviation):

* ``lists/ethnic-groups.json``, ``lists/nationalities.json``, ``lists/genders.json``,
  ``lists/religions.json``: list definitions (docs/list-format.md). The definitions of
  ``admin-units``, ``agencies`` and ``procedures`` are maintained by hand, not here.
* ``changesets/NNN-*.json``: change sets (docs/changeset-format.md), numbered in the
  order of ``manifest.json``:

  - administrative units: a baseline snapshot of the 63/696/10,035 units before the
    2025 reform, then one change set per new province for the reform of 2025-07-01;
  - agencies (Decision 09/2025/QĐ-TTg ministry codes, two known provincial samples);
  - an illustrative sample of procedures;
  - ethnic groups (Decision 1019/QĐ-TCTK), nationalities (ISO 3166-1),
    sexes (ISO/IEC 5218), religions (sample).

* ``manifest.json``: the lists and the change sets in the order they must be applied.

Every fact the reference sheet states is checked with an assertion; the script fails
loudly when the sources disagree with it, except for the documented corrections below.

Known differences between the ``vietnamadminunits`` data and the reference figures
(each is checked, so a new release of the package that changes them stops the build):

* ``admin_units_legacy`` has 10,040 rows: 10,035 communes plus one row for each of the
  five island districts without communes (Bạch Long Vĩ 318, Cồn Cỏ 471, Hoàng Sa 498,
  Lý Sơn 536, Côn Đảo 755), whose commune columns are empty.
* Its ``wardType`` column gives 7,695 Xã, 1,724 Phường and 616 Thị trấn, the reference
  counts, but three rows contradict their own names: 15061 "Thị trấn Ngọc Lặc" is typed
  Xã, and 27046 "Phường 5" and 27076 "Phường 15" (in Quận Phú Nhuận, whose units are all
  wards) are typed Xã. The type is taken from the name, which gives 7,692 Xã,
  1,726 Phường and 617 Thị trấn. See CORRECTED_COUNTS.
* In ``admin_units`` (after the reform) four types contradict the names: 10543 "Phường
  Việt Hòa" and 31213 "Phường Tân Lộc" are typed Xã, 11848 "Xã Vĩnh Hòa" and 31299 "Xã
  Phong Điền" are typed Phường. The type is taken from the name; the totals (2,621 Xã,
  687 Phường, 13 Đặc khu) are unchanged.
* Some names write the type with a capital letter ("Thị Xã Buôn Hồ", "Thành Phố Bắc
  Kạn", "Thị Trấn Ái Tử"); the official lower-case form is used ("Thị xã Buôn Hồ").
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import sqlite3
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "registry" / "data"
ADMIN = "admin-units"
AGENCIES = "agencies"
PROCEDURES = "procedures"

# --------------------------------------------------------------------------------------
# Facts from the reference sheet (public legal texts and statistics), checked below.
# --------------------------------------------------------------------------------------

BASELINE_DATE = "2025-01-01"
REFORM_DATE = "2025-07-01"

BEFORE = {"province": 63, "district": 696, "commune": 10_035}
# The reference counts, which the package's raw wardType column reproduces ...
REFERENCE_COMMUNE_TYPES = {"Xã": 7_695, "Phường": 1_724, "Thị trấn": 616}
# ... and the counts after the three rows whose type contradicts their name are fixed.
CORRECTED_COUNTS = {"Xã": 7_692, "Phường": 1_726, "Thị trấn": 617}
BEFORE_DISTRICT_TYPES = {"Huyện": 508, "Quận": 49, "Thành phố": 87, "Thị xã": 52}
AFTER_PROVINCE_TYPES = {"Tỉnh": 28, "Thành phố Trung ương": 6}
AFTER_COMMUNE_TYPES = {"Xã": 2_621, "Phường": 687, "Đặc khu": 13}
ISLAND_ZONES = {  # new code -> (name, old island district without communes)
    "11948": ("Đặc khu Bạch Long Vĩ", "318"),
    "19742": ("Đặc khu Cồn Cỏ", "471"),
    "20333": ("Đặc khu Hoàng Sa", "498"),
    "21548": ("Đặc khu Lý Sơn", "536"),
    "26732": ("Đặc khu Côn Đảo", "755"),
}
# Province codes that name a different province after the reform (the seat moved).
RECODED = {"15": ("Tỉnh Yên Bái", "Tỉnh Lào Cai"), "24": ("Tỉnh Bắc Giang", "Tỉnh Bắc Ninh"),
           "44": ("Tỉnh Quảng Bình", "Tỉnh Quảng Trị"), "52": ("Tỉnh Bình Định", "Tỉnh Gia Lai"),
           "80": ("Tỉnh Long An", "Tỉnh Tây Ninh"), "82": ("Tỉnh Tiền Giang", "Tỉnh Đồng Tháp"),
           "91": ("Tỉnh Kiên Giang", "Tỉnh An Giang")}

LB_124 = {"number": "124/2004/QĐ-TTg", "date": "2004-07-08", "issuer": "Thủ tướng Chính phủ"}
LB_202 = {"number": "202/2025/QH15", "date": "2025-06-12", "issuer": "Quốc hội"}
NASC_DATE = "2025-06-16"
NASC_ISSUER = "Ủy ban Thường vụ Quốc hội"
# Resolutions of the National Assembly Standing Committee on the communes of each new
# province, all dated 16 June 2025, by new province code. Numbers read from the headers
# of the resolution texts (1654 to 1687/NQ-UBTVQH15) and cross-checked against two
# independent published tables; see docs/data-sources.md. None is guessed: a province
# missing here would fall back to 202/2025/QH15 (none does).
NASC = {
    "01": "1656", "04": "1657", "08": "1684", "11": "1661", "12": "1670", "14": "1681",
    "15": "1673", "19": "1683", "20": "1672", "22": "1679", "24": "1658", "25": "1676",
    "31": "1669", "33": "1666", "37": "1674", "38": "1686", "40": "1678", "42": "1665",
    "44": "1680", "46": "1675", "48": "1659", "51": "1677", "52": "1664", "56": "1667",
    "66": "1660", "68": "1671", "75": "1662", "79": "1685", "80": "1682", "82": "1663",
    "86": "1687", "91": "1654", "92": "1668", "96": "1655",
}

LB_09_2025 = {"number": "09/2025/QĐ-TTg", "date": "2025-04-14", "issuer": "Thủ tướng Chính phủ"}
# Level-1 codes of ministries and ministry-level agencies, Decision 09/2025/QĐ-TTg.
MINISTRIES = [
    ("G01", "Bộ Công an", "Bộ"),
    ("G02", "Bộ Công Thương", "Bộ"),
    ("G03", "Bộ Giáo dục và Đào tạo", "Bộ"),
    ("G06", "Bộ Khoa học và Công nghệ", "Bộ"),
    ("G08", "Bộ Ngoại giao", "Bộ"),
    ("G09", "Bộ Nội vụ", "Bộ"),
    ("G10", "Bộ Nông nghiệp và Môi trường", "Bộ"),
    ("G11", "Bộ Quốc phòng", "Bộ"),
    ("G12", "Bộ Tài chính", "Bộ"),
    ("G15", "Bộ Tư pháp", "Bộ"),
    ("G16", "Bộ Văn hóa, Thể thao và Du lịch", "Bộ"),
    ("G17", "Bộ Xây dựng", "Bộ"),
    ("G18", "Bộ Y tế", "Bộ"),
    ("G19", "Ngân hàng Nhà nước Việt Nam", "Cơ quan ngang bộ"),
    ("G20", "Thanh tra Chính phủ", "Cơ quan ngang bộ"),
    ("G21", "Bộ Dân tộc và Tôn giáo", "Bộ"),
    ("G22", "Văn phòng Chính phủ", "Cơ quan ngang bộ"),
]
# The only provincial codes the reference gives. Both provinces were merged into others
# on 2025-07-01, and the merged province keeps the level-1 code of the old province of the
# same name (Cần Thơ, Hưng Yên), so these two codes close on that date.
LB_20_2020 = {"number": "20/2020/QĐ-TTg", "date": "2020-07-22", "issuer": "Thủ tướng Chính phủ"}
PROVINCIAL_SAMPLES = [
    ("000.00.00.H30", "Ủy ban nhân dân tỉnh Hậu Giang", "UBND tỉnh", "93"),
    ("000.00.00.K54", "Hội đồng nhân dân tỉnh Thái Bình", "HĐND tỉnh", "34"),
]

# Ethnic groups, Decision 1019/QĐ-TCTK of 12 November 2008 (the order cited by
# QCVN 109:2017), codes 01-54. Names in their common modern spelling; the decision's
# alternative names in brackets are kept for a few groups as ``other_names``.
LB_1019 = {"number": "1019/QĐ-TCTK", "date": "2008-11-12", "issuer": "Tổng cục Thống kê"}
ETHNIC_GROUPS = [
    "Kinh", "Tày", "Thái", "Mường", "Khơ me", "Hoa", "Nùng", "Mông", "Dao", "Gia Rai",
    "Ê Đê", "Ba Na", "Sán Chay", "Chăm", "Cơ Ho", "Xơ Đăng", "Sán Dìu", "Hrê", "Ra Glai",
    "Mnông", "Thổ", "Xtiêng", "Khơ mú", "Bru Vân Kiều", "Cơ Tu", "Giáy", "Tà Ôi", "Mạ",
    "Giẻ Triêng", "Co", "Chơ Ro", "Xinh Mun", "Hà Nhì", "Chu Ru", "Lào", "La Chí", "Kháng",
    "Phù Lá", "La Hủ", "La Ha", "Pà Thẻn", "Lự", "Ngái", "Chứt", "Lô Lô", "Mảng", "Cơ Lao",
    "Bố Y", "Cống", "Si La", "Pu Péo", "Rơ Măm", "Brâu", "Ơ Đu",
]
ETHNIC_OTHER_NAMES = {"Kinh": "Việt", "Hoa": "Hán", "Mông": "H'mông, Mèo",
                      "Sán Chay": "Cao Lan - Sán Chỉ"}

LB_ISO_3166 = {"number": "ISO 3166-1:2020", "date": "2020-08-01", "issuer": "ISO"}
LB_ISO_5218 = {"number": "ISO/IEC 5218:2022", "date": "2022-06-01", "issuer": "ISO/IEC JTC 1"}
SEXES = [  # ISO/IEC 5218 codes; the Vietnamese labels are ours
    ("0", "Chưa xác định", "Not known"),
    ("1", "Nam", "Male"),
    ("2", "Nữ", "Female"),
    ("9", "Không áp dụng", "Not applicable"),
]
LB_RELIGION_LAW = {"number": "02/2016/QH14", "date": "2016-11-18", "issuer": "Quốc hội"}
RELIGIONS_SAMPLE = [  # sample: no official code list is known to us; codes are ours
    ("00", "Không theo tôn giáo"),
    ("01", "Phật giáo"),
    ("02", "Công giáo"),
    ("03", "Tin lành"),
    ("04", "Cao Đài"),
    ("05", "Phật giáo Hòa Hảo"),
    ("06", "Hồi giáo"),
]

# An ILLUSTRATIVE sample of procedures. The codes 1.999001-1.999020 are deliberately
# outside the range of the national database, and the field codes other than G03-GD10
# (the reference's example) are made up in the same format. Names are typical procedure
# names; levels, agencies and online levels are plausible, not taken from the database.
LB_63_2010 = {"number": "63/2010/NĐ-CP", "date": "2010-06-08", "issuer": "Chính phủ"}
PROCEDURES_SAMPLE = [
    # (name, field code, field name, levels, implementing ministries, online level)
    ("Cấp hộ chiếu phổ thông ở trong nước", "G01-XN01", "Quản lý xuất nhập cảnh",
     ["central", "province"], ["G01"], "full"),
    ("Cấp thị thực cho người nước ngoài tại Việt Nam", "G01-XN01", "Quản lý xuất nhập cảnh",
     ["central"], ["G01"], "full"),
    ("Cấp Giấy chứng nhận xuất xứ hàng hóa ưu đãi", "G02-XK01", "Xuất nhập khẩu",
     ["central"], ["G02"], "full"),
    ("Công nhận văn bằng do cơ sở giáo dục nước ngoài cấp", "G03-VB01",
     "Hệ thống văn bằng, chứng chỉ", ["central"], ["G03"], "full"),
    ("Chuyển trường đối với học sinh trung học phổ thông", "G03-GD10", "Giáo dục Trung học",
     ["province"], [], "partial"),
    ("Đăng ký sáng chế", "G06-SH01", "Sở hữu trí tuệ", ["central"], ["G06"], "full"),
    ("Đăng ký nhãn hiệu", "G06-SH01", "Sở hữu trí tuệ", ["central"], ["G06"], "full"),
    ("Hợp pháp hóa lãnh sự giấy tờ, tài liệu tại Bộ Ngoại giao", "G08-LS01", "Lãnh sự",
     ["central"], ["G08"], "partial"),
    ("Chứng nhận lãnh sự giấy tờ, tài liệu tại Bộ Ngoại giao", "G08-LS01", "Lãnh sự",
     ["central"], ["G08"], "partial"),
    ("Tặng Huân chương Lao động", "G09-TD01", "Thi đua, khen thưởng",
     ["central"], ["G09", "G22"], "none"),
    ("Cấp giấy phép khai thác khoáng sản", "G10-KS01", "Địa chất và khoáng sản",
     ["central", "province"], ["G10"], "partial"),
    ("Đăng ký thuế lần đầu đối với tổ chức", "G12-TH01", "Thuế",
     ["central", "province"], ["G12"], "full"),
    ("Đăng ký thành lập doanh nghiệp tư nhân", "G12-DN01", "Thành lập và hoạt động doanh nghiệp",
     ["province"], [], "full"),
    ("Cấp Phiếu lý lịch tư pháp", "G15-LL01", "Lý lịch tư pháp",
     ["central", "province"], ["G15"], "full"),
    ("Đăng ký khai sinh", "G15-HT01", "Hộ tịch", ["commune"], [], "full"),
    ("Cấp giấy phép kinh doanh dịch vụ lữ hành quốc tế", "G16-DL01", "Du lịch",
     ["central"], ["G16"], "full"),
    ("Cấp chứng chỉ năng lực hoạt động xây dựng hạng I", "G17-XD01", "Hoạt động xây dựng",
     ["central"], ["G17"], "full"),
    ("Cấp giấy phép hành nghề khám bệnh, chữa bệnh", "G18-KB01", "Khám bệnh, chữa bệnh",
     ["central", "province"], ["G18"], "partial"),
    ("Cấp giấy phép thành lập ngân hàng thương mại", "G19-NH01", "Thành lập và hoạt động ngân hàng",
     ["central"], ["G19"], "none"),
    ("Công nhận tổ chức tôn giáo", "G21-TG01", "Tôn giáo", ["central"], ["G21"], "none"),
]

PATTERNS = {  # code patterns per level, as in the list definitions
    "province": r"^\d{2}$", "district": r"^\d{3}$", "commune": r"^\d{5}$",
}
ADMIN_TYPES = {
    "province": ("Tỉnh", "Thành phố Trung ương"),
    "district": ("Quận", "Huyện", "Thị xã", "Thành phố"),
    "commune": ("Xã", "Phường", "Thị trấn", "Đặc khu"),
}
LEVEL_OF_TYPE = {t: lvl for lvl, types in ADMIN_TYPES.items() for t in types}


class BuildError(Exception):
    """A source disagrees with a checked fact."""


def check(condition: bool, message: str) -> None:
    """Fail loudly (assert statements vanish under ``python -O``)."""
    if not condition:
        raise BuildError(message)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------


def package_dir(name: str) -> Path:
    """The installed package's directory, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"missing source package {name!r}: "
                         "pip install vietnamadminunits pycountry")
    return Path(next(iter(spec.submodule_search_locations)))


def fix_name(name: str, types: Iterable[str]) -> tuple[str, str | None]:
    """Normalise the type prefix of ``name`` ("Thị Xã X" -> "Thị xã X"); return the type
    the name states, or None when it starts with none of ``types``."""
    name = " ".join(nfc(name).split())
    for type_ in sorted(types, key=len, reverse=True):
        if name.lower().startswith(type_.lower() + " "):
            return type_ + name[len(type_):], type_
    return name, None


class Corrections:
    """A log of every change the script makes to source values, printed at the end."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:  # a district's name repeats on each of its rows
            self.items.append(text)


def load_admin(corr: Corrections) -> dict[str, Any]:
    """Read the vietnamadminunits dataset: units before and after, and the converter."""
    base = package_dir("vietnamadminunits") / "data"
    db = sqlite3.connect(f"file:{base / 'dataset.db'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT province, provinceShort, provinceCode, provinceKey, district, districtShort,"
        " districtType, districtCode, districtKey, ward, wardShort, wardType, wardCode, wardKey"
        " FROM admin_units_legacy").fetchall()
    check(len(rows) == 10_040, f"admin_units_legacy has {len(rows)} rows, expected 10,040")

    provinces: dict[str, dict[str, Any]] = {}
    districts: dict[str, dict[str, Any]] = {}
    communes: dict[str, dict[str, Any]] = {}
    raw_types: Counter[str] = Counter()
    old_key: dict[str, str] = {}  # converter key "province_district_ward" -> code
    old_prov_key: dict[str, str] = {}
    for (p_name, p_short, p_code, p_key, d_name, d_short, d_type, d_code, d_key,
         w_name, w_short, w_type, w_code, w_key) in rows:
        p_name, p_type = fix_name(p_name, ("Tỉnh", "Thành phố"))
        check(p_type is not None, f"province {p_code}: unknown type in {p_name!r}")
        prov = {"code": p_code, "name": p_name, "short_name": nfc(p_short),
                "type": "Thành phố Trung ương" if p_type == "Thành phố" else "Tỉnh"}
        check(provinces.setdefault(p_code, prov) == prov, f"province {p_code} differs by row")
        check(old_prov_key.setdefault(p_key, p_code) == p_code, f"province key {p_key} repeats")
        fixed, stated = fix_name(d_name, ADMIN_TYPES["district"])
        if fixed != nfc(d_name):
            corr.add(f"district {d_code}: name {d_name!r} -> {fixed!r}")
        check(stated == d_type, f"district {d_code} {d_name!r} is typed {d_type!r}")
        dist = {"code": d_code, "name": fixed, "short_name": nfc(d_short), "type": d_type,
                "parent": p_code}
        check(districts.setdefault(d_code, dist) == dist, f"district {d_code} differs by row")
        key = f"{p_key}_{d_key}_{w_key or ''}"
        if not w_code:  # an island district without communes
            check(not w_name and not w_type, f"district {d_code}: commune row without code")
            old_key[key] = d_code
            continue
        raw_types[w_type] += 1
        fixed, stated = fix_name(w_name, ("Xã", "Phường", "Thị trấn"))
        check(stated is not None, f"commune {w_code}: no type in {w_name!r}")
        if fixed != nfc(w_name):
            corr.add(f"commune {w_code}: name {w_name!r} -> {fixed!r}")
        if stated != w_type:
            corr.add(f"commune {w_code} {fixed!r}: type {w_type!r} -> {stated!r} (from its name)")
        check(w_code not in communes, f"commune {w_code} repeats")
        communes[w_code] = {"code": w_code, "name": fixed, "short_name": nfc(w_short),
                            "type": stated, "parent": d_code}
        check(key not in old_key, f"converter key {key} repeats")
        old_key[key] = w_code

    rows = db.execute(
        "SELECT province, provinceShort, provinceCode, provinceKey, ward, wardShort, wardType,"
        " wardCode, wardKey FROM admin_units").fetchall()
    check(len(rows) == 3_321, f"admin_units has {len(rows)} rows, expected 3,321")
    new_provinces: dict[str, dict[str, Any]] = {}
    new_communes: dict[str, dict[str, Any]] = {}
    new_key: dict[tuple[str, str], str] = {}
    new_prov_key: dict[str, str] = {}
    for p_name, p_short, p_code, p_key, w_name, w_short, w_type, w_code, w_key in rows:
        p_name, p_type = fix_name(p_name, ("Tỉnh", "Thành phố"))
        check(p_type is not None, f"new province {p_code}: unknown type in {p_name!r}")
        prov = {"code": p_code, "name": p_name, "short_name": nfc(p_short),
                "type": "Thành phố Trung ương" if p_type == "Thành phố" else "Tỉnh"}
        check(new_provinces.setdefault(p_code, prov) == prov, f"new province {p_code} differs")
        check(new_prov_key.setdefault(p_key, p_code) == p_code, f"new province key {p_key}")
        fixed, stated = fix_name(w_name, ("Xã", "Phường", "Đặc khu"))
        check(stated is not None, f"new commune {w_code}: no type in {w_name!r}")
        if fixed != nfc(w_name):
            corr.add(f"new commune {w_code}: name {w_name!r} -> {fixed!r}")
        if stated != w_type:
            corr.add(f"new commune {w_code} {fixed!r}: type {w_type!r} -> {stated!r} "
                     "(from its name)")
        check(w_code not in new_communes, f"new commune {w_code} repeats")
        new_communes[w_code] = {"code": w_code, "name": fixed, "short_name": nfc(w_short),
                                "type": stated, "parent": p_code}
        check((p_key, w_key) not in new_key, f"new key {p_key}/{w_key} repeats")
        new_key[(p_key, w_key)] = w_code
    db.close()

    converter = json.loads((base / "converter_2025.json").read_text("utf-8"))
    return {
        "provinces": provinces, "districts": districts, "communes": communes,
        "raw_types": raw_types, "old_key": old_key, "old_prov_key": old_prov_key,
        "new_provinces": new_provinces, "new_communes": new_communes, "new_key": new_key,
        "new_prov_key": new_prov_key, "converter": converter,
    }


# --------------------------------------------------------------------------------------
# Administrative units
# --------------------------------------------------------------------------------------


def entry(unit: dict[str, Any]) -> dict[str, Any]:
    """Entry fields in a fixed key order, without empty values."""
    out = {"code": unit["code"], "name": unit["name"], "type": unit["type"]}
    if unit.get("parent"):
        out["parent"] = unit["parent"]
    if unit.get("short_name"):
        out["short_name"] = unit["short_name"]
    return out


def check_baseline(src: dict[str, Any]) -> None:
    provinces, districts, communes = src["provinces"], src["districts"], src["communes"]
    check(len(provinces) == BEFORE["province"], f"{len(provinces)} provinces before")
    check(len(districts) == BEFORE["district"], f"{len(districts)} districts before")
    check(len(communes) == BEFORE["commune"], f"{len(communes)} communes before")
    check(dict(src["raw_types"]) == REFERENCE_COMMUNE_TYPES,
          f"raw commune types {dict(src['raw_types'])} != reference {REFERENCE_COMMUNE_TYPES}")
    types = Counter(c["type"] for c in communes.values())
    check(dict(types) == CORRECTED_COUNTS, f"corrected commune types {dict(types)}")
    dtypes = Counter(d["type"] for d in districts.values())
    check(dict(dtypes) == BEFORE_DISTRICT_TYPES, f"district types {dict(dtypes)}")
    check(Counter(p["type"] for p in provinces.values())
          == Counter({"Tỉnh": 57, "Thành phố Trung ương": 6}), "province types before")
    check(districts["769"]["name"] == "Thành phố Thủ Đức"
          and districts["769"]["type"] == "Thành phố", "Thủ Đức is a district-level city")
    with_communes = {c["parent"] for c in communes.values()}
    empty = sorted(set(districts) - with_communes)
    check(empty == sorted(d for _, d in ISLAND_ZONES.values()),
          f"districts without communes: {empty}")
    for code, (before, _after) in RECODED.items():
        check(provinces[code]["name"] == before, f"province {code} before is {before}")
    check(communes["00004"]["name"] == "Phường Trúc Bạch" and communes["00004"]["parent"] == "001",
          "00004 is Phường Trúc Bạch in Quận Ba Đình before")
    check(communes["00013"]["name"] == "Phường Quán Thánh", "00013 is Phường Quán Thánh")
    for unit in [*provinces.values(), *districts.values(), *communes.values()]:
        level = LEVEL_OF_TYPE[unit["type"]]
        check(re.fullmatch(PATTERNS[level], unit["code"]) is not None,
              f"{unit['code']} does not match the pattern of level {level}")


def baseline_changeset(src: dict[str, Any]) -> dict[str, Any]:
    ops = []
    for level in ("provinces", "districts", "communes"):
        for code in sorted(src[level]):
            ops.append({"op": "create", "list": ADMIN, **entry(src[level][code])})
    return {
        "title": "Danh mục đơn vị hành chính trước sắp xếp năm 2025: ảnh chụp trạng thái "
                 "(63 tỉnh, 696 huyện, 10.035 xã; mã theo Quyết định 124/2004/QĐ-TTg). "
                 "Ngày hiệu lực là ngày của ảnh chụp, không phải ngày thành lập thực tế "
                 "của các đơn vị. / Snapshot of the pre-reform list, not the units' real "
                 "creation dates.",
        "legal_basis": LB_124,
        "effective_date": BASELINE_DATE,
        "operations": ops,
    }


def reform_plan(src: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per new province: its old provinces, districts and each new commune's sources."""
    conv = src["converter"]
    old_key, new_key = src["old_key"], src["new_key"]
    old_prov_key, new_prov_key = src["old_prov_key"], src["new_prov_key"]
    provinces, districts, communes = src["provinces"], src["districts"], src["communes"]
    new_provinces, new_communes = src["new_provinces"], src["new_communes"]

    check(set(conv["DICT_PROVINCE"]) == set(new_prov_key), "converter's new provinces")
    members: dict[str, list[str]] = {}
    for p_key, old_keys in conv["DICT_PROVINCE"].items():
        members[new_prov_key[p_key]] = sorted(old_prov_key[k] for k in old_keys)
    all_old = sorted(c for m in members.values() for c in m)
    check(all_old == sorted(provinces), "every old province is in exactly one new province")
    for new, old in members.items():
        check(new in old, f"new province {new} does not keep the code of a predecessor")

    # links[new commune] = [(old code, kind, converter's default flag)]
    links: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
    seen: Counter[str] = Counter()
    for p_key, by_new in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for w_key, olds in by_new.items():
            for k in olds:
                links[new_key[(p_key, w_key)]].append((old_key[k], "whole", True))
                seen[old_key[k]] += 1
    divided: dict[str, list[tuple[str, bool]]] = {}
    for p_key, by_old in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for k, news in by_old.items():
            old = old_key[k]
            seen[old] += 1
            targets = [(new_key[(p_key, n["newWardKey"])], bool(n["isDefaultNewWard"]))
                       for n in news]
            check(len(targets) >= 2, f"divided commune {old} has {len(targets)} successors")
            check(sum(d for _, d in targets) == 1, f"divided commune {old}: not one default")
            divided[old] = targets
            for new, flag in targets:
                links[new].append((old, "part", flag))
    check(all(n == 1 for n in seen.values()), "an old unit appears twice in the converter")
    check(set(seen) == set(communes) | {d for _, d in ISLAND_ZONES.values()},
          "the converter covers every old commune and island district")
    check(set(links) == set(new_communes), "every new commune has predecessors")

    # The default successor of a divided commune (one link per divided commune): the new
    # commune that keeps its code if there is one (the part with the old seat keeps the
    # code), else the converter's default (isDefaultNewWard).
    default_of: dict[str, str] = {}
    overridden = []
    for old, targets in divided.items():
        keeper = [new for new, _ in targets if new == old]
        conv_default = next(new for new, flag in targets if flag)
        default_of[old] = keeper[0] if keeper else conv_default
        if default_of[old] != conv_default:
            overridden.append(old)

    plan: dict[str, dict[str, Any]] = {}
    for p_code in sorted(new_provinces):
        old_provs = members[p_code]
        plan[p_code] = {
            "members": old_provs,
            "districts": sorted(d for d, v in districts.items() if v["parent"] in old_provs),
            "communes": {},
        }
    for new_code in sorted(new_communes):
        unit = new_communes[new_code]
        srcs = []
        for old, kind, _flag in sorted(links[new_code]):
            if kind == "whole":
                srcs.append({"code": old, "kind": "whole"})
            else:
                srcs.append({"code": old, "kind": "part", "default": default_of[old] == new_code})
        plan[unit["parent"]]["communes"][new_code] = srcs
        for s in srcs:  # no commune crosses into another new province
            old = s["code"]
            owner = communes[old]["parent"] if old in communes else old
            prov = districts[owner]["parent"]
            check(prov in plan[unit["parent"]]["members"],
                  f"{old} (province {prov}) is a source of {new_code} in {unit['parent']}")
    plan["_overridden"] = {"codes": sorted(overridden)}
    return plan


def reform_changesets(src: dict[str, Any], plan: dict[str, dict[str, Any]]) -> list[
        tuple[str, dict[str, Any]]]:
    provinces, new_provinces, new_communes = (src["provinces"], src["new_provinces"],
                                              src["new_communes"])
    out = []
    for p_code in sorted(new_provinces):
        p = plan[p_code]
        new_prov = new_provinces[p_code]
        ops: list[dict[str, Any]] = []
        # 1. every new commune, parent = the new province (sorted by code)
        for new_code, srcs in sorted(p["communes"].items()):
            target = entry(new_communes[new_code])
            if new_code in ISLAND_ZONES:
                # The only predecessor is an island district without communes. Lineage may
                # cross levels, so the zone is a merge of that district: `resolve 318`
                # then answers with the special zone.
                check(len(srcs) == 1 and srcs[0]["code"] == ISLAND_ZONES[new_code][1],
                      f"special zone {new_code}: sources {srcs}")
                check(target["name"] == ISLAND_ZONES[new_code][0], f"zone {new_code} name")
                ops.append({"op": "merge", "list": ADMIN, "sources": [srcs[0]["code"]],
                            "target": target})
                continue
            sources: list[Any] = [s["code"] if s["kind"] == "whole" else s for s in srcs]
            ops.append({"op": "merge", "list": ADMIN, "sources": sources, "target": target})
        # 2. the district level is abolished: retire every district of the old provinces
        island_districts = {d for _, d in ISLAND_ZONES.values()}
        for d_code in p["districts"]:
            if d_code not in island_districts:  # those end as sources of their zone's merge
                ops.append({"op": "retire", "list": ADMIN, "code": d_code})
        # 3. the province: merge the old provinces, or rename/reclassify a single one
        target = entry(new_prov)
        if len(p["members"]) > 1:
            ops.append({"op": "merge", "list": ADMIN, "sources": p["members"], "target": target})
        else:
            old = provinces[p_code]
            if old["name"] != target["name"] or old["short_name"] != target["short_name"]:
                ops.append({"op": "rename", "list": ADMIN, "code": p_code,
                            "name": target["name"], "short_name": target["short_name"]})
            if old["type"] != target["type"]:
                ops.append({"op": "reclassify", "list": ADMIN, "code": p_code,
                            "type": target["type"]})
        number = NASC.get(p_code)
        if number:
            basis = {"number": f"{number}/NQ-UBTVQH15", "date": NASC_DATE, "issuer": NASC_ISSUER}
        else:  # not reached with the current table; kept so no number is ever invented
            basis = LB_202
        merged = ", ".join(provinces[c]["name"] for c in p["members"])
        title = (f"Sắp xếp đơn vị hành chính năm 2025: {new_prov['name']} "
                 f"(cấp tỉnh theo Nghị quyết 202/2025/QH15: {merged}; cấp xã theo "
                 f"Nghị quyết {basis['number']}; bỏ cấp huyện)")
        out.append((f"admin-units-2025-{p_code}", {
            "title": title, "legal_basis": basis, "effective_date": REFORM_DATE,
            "operations": ops}))
    return out


# --------------------------------------------------------------------------------------
# Agencies and procedures
# --------------------------------------------------------------------------------------


def agencies_changesets() -> list[tuple[str, str, dict[str, Any]]]:
    """(slug, effective date, change set) for the agencies list."""
    ministries = {
        "title": "Mã định danh các bộ, cơ quan ngang bộ theo Quyết định 09/2025/QĐ-TTg "
                 "(17 mã cấp 1 G01–G22)",
        "legal_basis": LB_09_2025,
        "effective_date": LB_09_2025["date"],
        "operations": [
            {"op": "create", "list": AGENCIES, "code": f"000.00.00.{g}", "name": name,
             "type": type_, "attributes": {"code_decision": LB_09_2025["number"]}}
            for g, name, type_ in MINISTRIES],
    }
    samples = {
        "title": "Mẫu (sample): hai mã định danh cơ quan cấp tỉnh đã biết (H30, K54); ảnh chụp "
                 "trạng thái, không phải ngày cấp mã thực tế",
        "legal_basis": LB_20_2020,
        "effective_date": BASELINE_DATE,
        "operations": [
            {"op": "create", "list": AGENCIES, "code": code, "name": name, "type": type_,
             "attributes": {"admin_unit": unit}}
            for code, name, type_, unit in PROVINCIAL_SAMPLES],
    }
    retire = {
        "title": "Mẫu (sample): đóng mã H30, K54 khi tỉnh Hậu Giang, Thái Bình được sắp xếp "
                 "(Nghị quyết 202/2025/QH15)",
        "legal_basis": LB_202,
        "effective_date": REFORM_DATE,
        "operations": [{"op": "retire", "list": AGENCIES, "code": code}
                       for code, *_ in PROVINCIAL_SAMPLES],
    }
    return [("agencies-09-2025-ministries", LB_09_2025["date"], ministries),
            ("agencies-provincial-samples", BASELINE_DATE, samples),
            ("agencies-provincial-samples-retire", REFORM_DATE, retire)]


def procedures_changeset() -> dict[str, Any]:
    ops = []
    for i, (name, field_code, field_name, levels, agencies, online) in enumerate(
            PROCEDURES_SAMPLE, start=1):
        attributes: dict[str, Any] = {"field_code": field_code, "field_name": field_name,
                                      "levels": levels, "online_level": online}
        if agencies:
            attributes["implementing_agencies"] = [f"000.00.00.{g}" for g in agencies]
            attributes["competent_agency"] = f"000.00.00.{agencies[0]}"
        ops.append({"op": "create", "list": PROCEDURES, "code": f"1.{999000 + i:06d}",
                    "name": name, "type": "Thủ tục hành chính", "attributes": attributes})
    return {
        "title": "Mẫu minh họa (illustrative sample): 20 thủ tục hành chính; mã 1.999001–1.999020 "
                 "và mã lĩnh vực (trừ G03-GD10) không phải của Cơ sở dữ liệu quốc gia về thủ "
                 "tục hành chính",
        "legal_basis": LB_63_2010,
        "effective_date": REFORM_DATE,
        "operations": ops,
    }


# --------------------------------------------------------------------------------------
# Small lists: ethnic groups, nationalities, sexes, religions
# --------------------------------------------------------------------------------------


def small_lists() -> list[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """(key, list definition, slug, change set) for the four small lists."""
    import pycountry  # generation-time only

    out = []
    check(len(ETHNIC_GROUPS) == 54 and len(set(ETHNIC_GROUPS)) == 54, "54 ethnic groups")
    check(ETHNIC_GROUPS[3:6] == ["Mường", "Khơ me", "Hoa"], "1019/QĐ-TCTK order: 04 Mường")
    definition = {
        "key": "ethnic-groups",
        "name": "Danh mục các dân tộc Việt Nam",
        "name_en": "Ethnic groups of Viet Nam",
        "owner": "Tổng cục Thống kê",
        "code_pattern": r"^\d{2}$",
        "reuse_policy": "never",
        "parent_rule": None,
        "levels": [{"key": "ethnic-group", "name": "Dân tộc", "types": ["Dân tộc"],
                    "parents": [], "code_pattern": None}],
        "attributes": {"other_names": {"type": "string", "required": False}},
        "source": LB_1019,
    }
    ops = []
    for i, name in enumerate(ETHNIC_GROUPS, start=1):
        op: dict[str, Any] = {"op": "create", "list": "ethnic-groups", "code": f"{i:02d}",
                              "name": name, "type": "Dân tộc"}
        if name in ETHNIC_OTHER_NAMES:
            op["attributes"] = {"other_names": ETHNIC_OTHER_NAMES[name]}
        ops.append(op)
    out.append(("ethnic-groups", definition, "ethnic-groups-1019-2008", {
        "title": "Danh mục 54 dân tộc Việt Nam theo Quyết định 1019/QĐ-TCTK (mã 01–54)",
        "legal_basis": LB_1019, "effective_date": LB_1019["date"], "operations": ops}))

    countries = sorted(pycountry.countries, key=lambda c: c.alpha_2)
    check(len(countries) >= 249, f"pycountry has {len(countries)} countries")
    definition = {
        "key": "nationalities",
        "name": "Danh mục quốc gia và vùng lãnh thổ (quốc tịch) theo ISO 3166-1",
        "name_en": "Countries and territories (ISO 3166-1 alpha-2)",
        "owner": "ISO 3166 Maintenance Agency",
        "code_pattern": "^[A-Z]{2}$",
        "reuse_policy": "never",
        "parent_rule": None,
        "levels": [{"key": "country", "name": "Quốc gia, vùng lãnh thổ",
                    "types": ["Quốc gia, vùng lãnh thổ"], "parents": [], "code_pattern": None}],
        "attributes": {
            "alpha_3": {"type": "string", "required": True},
            "numeric": {"type": "string", "required": True},
            "official_name": {"type": "string", "required": False},
        },
        "source": LB_ISO_3166,
    }
    ops = []
    for c in countries:
        check(re.fullmatch("[A-Z]{2}", c.alpha_2) is not None, f"alpha-2 {c.alpha_2}")
        check(re.fullmatch("[A-Z]{3}", c.alpha_3) is not None, f"alpha-3 {c.alpha_3}")
        check(re.fullmatch(r"\d{3}", c.numeric) is not None, f"numeric {c.numeric}")
        attributes = {"alpha_3": c.alpha_3, "numeric": c.numeric}
        official = getattr(c, "official_name", None)
        if official:
            attributes["official_name"] = nfc(official)
        ops.append({"op": "create", "list": "nationalities", "code": c.alpha_2,
                    "name": nfc(c.name), "type": "Quốc gia, vùng lãnh thổ",
                    "attributes": attributes})
    check(any(o["code"] == "VN" and o["attributes"]["alpha_3"] == "VNM" for o in ops), "VN")
    version = importlib.metadata.version("pycountry")
    out.append(("nationalities", definition, "nationalities-iso-3166-1", {
        "title": f"Danh mục quốc gia và vùng lãnh thổ theo ISO 3166-1 ({len(ops)} mã alpha-2; "
                 f"ảnh chụp từ pycountry {version}, không phải ngày cấp mã thực tế)",
        "legal_basis": LB_ISO_3166, "effective_date": BASELINE_DATE, "operations": ops}))

    definition = {
        "key": "genders",
        "name": "Danh mục giới tính (mã theo ISO/IEC 5218)",
        "name_en": "Sexes (ISO/IEC 5218 codes; Vietnamese labels by this registry)",
        "owner": "ISO/IEC JTC 1/SC 32",
        "code_pattern": "^[0129]$",
        "reuse_policy": "never",
        "parent_rule": None,
        "levels": [{"key": "gender", "name": "Giới tính", "types": ["Giới tính"],
                    "parents": [], "code_pattern": None}],
        "attributes": {},
        "source": LB_ISO_5218,
    }
    ops = [{"op": "create", "list": "genders", "code": code, "name": name, "type": "Giới tính",
            "name_en": name_en} for code, name, name_en in SEXES]
    out.append(("genders", definition, "genders-iso-iec-5218", {
        "title": "Danh mục giới tính: mã 0, 1, 2, 9 theo ISO/IEC 5218:2022",
        "legal_basis": LB_ISO_5218, "effective_date": LB_ISO_5218["date"], "operations": ops}))

    definition = {
        "key": "religions",
        "name": "Danh mục tôn giáo (mẫu, không phải danh mục chính thức)",
        "name_en": "Religions (SAMPLE: not an official code list; codes assigned by this "
                   "registry)",
        "owner": None,
        "code_pattern": r"^\d{2}$",
        "reuse_policy": "never",
        "parent_rule": None,
        "levels": [{"key": "religion", "name": "Tôn giáo", "types": ["Tôn giáo"],
                    "parents": [], "code_pattern": None}],
        "attributes": {},
    }
    ops = [{"op": "create", "list": "religions", "code": code, "name": name, "type": "Tôn giáo"}
           for code, name in RELIGIONS_SAMPLE]
    out.append(("religions", definition, "religions-sample", {
        "title": "Mẫu (sample): danh mục tôn giáo; mã do hệ thống tự đặt, không theo văn bản "
                 "nào; căn cứ chung: Luật Tín ngưỡng, tôn giáo",
        "legal_basis": LB_RELIGION_LAW, "effective_date": "2018-01-01", "operations": ops}))
    return out


# --------------------------------------------------------------------------------------
# Replay: apply the change sets to an in-memory registry and check the result
# --------------------------------------------------------------------------------------


class World:
    """A minimal replay of the change-set semantics (docs/changeset-format.md)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}
        self.links: list[tuple[str, str, str, str, bool]] = []  # list, from, to, kind, default

    def active(self, lst: str) -> dict[str, dict[str, Any]]:
        return {c: e for (k, c), e in self.entries.items() if k == lst and e["active"]}

    def _get(self, lst: str, code: str, where: str) -> dict[str, Any]:
        e = self.entries.get((lst, code))
        check(e is not None and e["active"], f"{where}: {lst} {code} is not active")
        return e  # type: ignore[return-value]

    def _put(self, lst: str, fields: dict[str, Any], continued: bool, where: str) -> None:
        key = (lst, fields["code"])
        if continued:
            self._get(lst, fields["code"], where).update(fields)
        else:
            check(key not in self.entries, f"{where}: code {fields['code']} was used before")
            self.entries[key] = {**fields, "active": True}

    def apply(self, cs: dict[str, Any], name: str) -> None:
        ending: set[tuple[str, str]] = set()
        kept: set[tuple[str, str]] = set()
        for op in cs["operations"]:
            if op["op"] == "merge":
                kept.add((op["list"], op["target"]["code"]))
        for i, op in enumerate(cs["operations"]):
            where, lst = f"{name} operations[{i}]", op["list"]
            kind = op["op"]
            if kind == "create":
                self._put(lst, {k: v for k, v in op.items() if k not in ("op", "list")},
                          False, where)
            elif kind == "retire":
                self._get(lst, op["code"], where)
                ending.add((lst, op["code"]))
            elif kind in ("rename", "reclassify", "move", "update"):
                e = self._get(lst, op["code"], where)
                for k, v in op.items():
                    if k not in ("op", "list", "code"):
                        e[k] = v
            elif kind == "merge":
                target = op["target"]
                codes = []
                for s in op["sources"]:
                    s = {"code": s, "kind": "whole"} if isinstance(s, str) else s
                    s_kind = s.get("kind", "whole")
                    default = s.get("default", s_kind == "whole")
                    self._get(lst, s["code"], where)
                    codes.append(s["code"])
                    self.links.append((lst, s["code"], target["code"], s_kind, default))
                    if (lst, s["code"]) not in kept:
                        ending.add((lst, s["code"]))
                check(len(set(codes)) == len(codes), f"{where}: a source repeats")
                self._put(lst, dict(target), target["code"] in codes, where)
            else:
                raise BuildError(f"{where}: operation {kind!r} is not replayed here")
        for key in ending:
            self.entries[key]["active"] = False
        # after each change set: parents are active and of the right level
        for (lst, code), e in self.entries.items():
            if lst == ADMIN and e["active"]:
                parent = e.get("parent")
                level = LEVEL_OF_TYPE[e["type"]]
                check(re.fullmatch(PATTERNS[level], code) is not None, f"{name}: {code} pattern")
                if level == "province":
                    check(parent is None, f"{name}: province {code} has a parent")
                    continue
                p = self.entries.get((ADMIN, parent)) if parent else None
                check(p is not None and p["active"], f"{name}: {code} has inactive parent {parent}")
                allowed = ("province",) if level == "district" else ("district", "province")
                check(LEVEL_OF_TYPE[p["type"]] in allowed, f"{name}: {code} parent level")


def verify(changesets: list[tuple[str, dict[str, Any]]], src: dict[str, Any]) -> dict[str, Any]:
    """Replay everything; check the state before and after the reform against the facts."""
    world = World()
    before: dict[str, dict[str, Any]] | None = None
    for name, cs in changesets:
        if cs["effective_date"] == REFORM_DATE and before is None:
            before = {c: dict(e) for c, e in world.active(ADMIN).items()}
        world.apply(cs, name)
    check(before is not None, "no reform change set")
    assert before is not None
    after = world.active(ADMIN)

    def census(state: dict[str, dict[str, Any]]) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for e in state.values():
            out[LEVEL_OF_TYPE[e["type"]]][e["type"]] += 1
        return out

    b, a = census(before), census(after)
    check(sum(b["province"].values()) == 63 and sum(b["district"].values()) == 696
          and dict(b["commune"]) == CORRECTED_COUNTS, f"state before the reform: {dict(b)}")
    check(dict(a["province"]) == AFTER_PROVINCE_TYPES, f"provinces after: {dict(a['province'])}")
    check(not a["district"], "districts remain after the reform")
    check(dict(a["commune"]) == AFTER_COMMUNE_TYPES, f"communes after: {dict(a['commune'])}")
    for code, (old_name, new_name) in RECODED.items():
        check(before[code]["name"] == old_name and after[code]["name"] == new_name,
              f"province {code}: {old_name} before, {new_name} after")
    # the state after equals the published list after the reform
    expected = {**src["new_provinces"], **src["new_communes"]}
    check(set(after) == set(expected), "codes after the reform differ from the source")
    for code, unit in expected.items():
        for field in ("name", "type", "parent", "short_name"):
            check(after[code].get(field) == unit.get(field),
                  f"{code}.{field}: {after[code].get(field)!r} != {unit.get(field)!r}")
    # lineage: 00013 -> 00004; every old commune continued or a source of a merge
    admin_links = [lk for lk in world.links if lk[0] == ADMIN]
    check(any(f == "00013" and t == "00004" for _, f, t, _, _ in admin_links), "00013 -> 00004")
    sources = {f for _, f, _, _, _ in admin_links}
    for code in src["communes"]:
        check(code in after or code in sources, f"old commune {code} is not accounted for")
        if code in after:
            check(after[code]["parent"] in src["new_provinces"], f"{code} parent")
    for zone in ISLAND_ZONES:
        check(zone in after and after[zone]["type"] == "Đặc khu" and zone not in before,
              f"special zone {zone} is created")
    # exactly one default link per divided commune, and it is the code keeper if any
    parts: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for _, f, t, kind, default in admin_links:
        if kind == "part":
            parts[f].append((t, default))
    for old, outs in parts.items():
        check(len(outs) >= 2, f"divided commune {old} has one successor")
        check(sum(d for _, d in outs) == 1, f"divided commune {old}: {outs}")
        if old in after:
            check((old, True) in outs, f"divided commune {old}: default is not its code keeper")
    continued = sum(1 for c in src["communes"] if c in after)
    return {"before": b, "after": a, "links": len(admin_links), "divided": len(parts),
            "continued": continued, "world": world}


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def changeset_text(cs: dict[str, Any]) -> str:
    """Compact JSON with one operation per line."""
    head = [f'  "title": {dumps(cs["title"])}', f'  "legal_basis": {dumps(cs["legal_basis"])}',
            f'  "effective_date": {dumps(cs["effective_date"])}']
    ops = ",\n".join("    " + dumps(op) for op in cs["operations"])
    return "{\n" + ",\n".join(head) + ',\n  "operations": [\n' + ops + "\n  ]\n}\n"


def definition_text(definition: dict[str, Any]) -> str:
    lines = []
    for key, value in definition.items():
        if key == "levels":
            inner = ",\n".join("    " + dumps(level) for level in value)
            lines.append(f'  "levels": [\n{inner}\n  ]')
        elif key == "attributes" and value:
            inner = ",\n".join(f"    {dumps(k)}: {dumps(v)}" for k, v in value.items())
            lines.append(f'  "attributes": {{\n{inner}\n  }}')
        else:
            lines.append(f"  {dumps(key)}: {dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def check_nfc(text: str, name: str) -> None:
    check(unicodedata.normalize("NFC", text) == text, f"{name} is not NFC")
    check(str(ROOT) not in text, f"{name} contains a local path")


def main() -> int:
    corr = Corrections()
    src = load_admin(corr)
    check_baseline(src)
    plan = reform_plan(src)
    overridden = plan.pop("_overridden")["codes"]

    # (slug, effective date, change set), applied in this order
    ordered: list[tuple[str, dict[str, Any]]] = []
    lists = small_lists()
    by_key = {key: (slug, cs) for key, _d, slug, cs in lists}
    ordered.append(by_key["ethnic-groups"])
    ordered.append(by_key["religions"])
    ordered.append(by_key["genders"])
    ordered.append(by_key["nationalities"])
    ordered.append(("admin-units-baseline-2025-01-01", baseline_changeset(src)))
    agencies = agencies_changesets()
    ordered.append((agencies[1][0], agencies[1][2]))   # provincial samples, 2025-01-01
    ordered.append((agencies[0][0], agencies[0][2]))   # ministries, 2025-04-14
    ordered.extend(reform_changesets(src, plan))
    ordered.append((agencies[2][0], agencies[2][2]))   # retire provincial samples
    ordered.append(("procedures-sample", procedures_changeset()))
    dates = [cs["effective_date"] for _, cs in ordered]
    check(dates == sorted(dates), "change sets are not in effective-date order")

    result = verify([(slug, cs) for slug, cs in ordered], src)
    world: World = result["world"]
    check(len(world.active(AGENCIES)) == len(MINISTRIES), "agencies after the reform")
    for _slug, cs in ordered:  # references resolve to entries created earlier
        for op in cs["operations"]:
            attrs = op.get("attributes") or {}
            refs = list(attrs.get("implementing_agencies", []))
            refs += [attrs["competent_agency"]] if "competent_agency" in attrs else []
            for ref in refs:
                check((AGENCIES, ref) in world.entries, f"unknown agency {ref}")
            if "admin_unit" in attrs:
                check((ADMIN, attrs["admin_unit"]) in world.entries, "unknown admin unit")

    # write
    out_lists = DATA / "lists"
    out_cs = DATA / "changesets"
    out_lists.mkdir(parents=True, exist_ok=True)
    out_cs.mkdir(parents=True, exist_ok=True)
    for old in out_cs.glob("*.json"):
        old.unlink()
    for key, definition, _slug, _cs in lists:
        text = definition_text(definition)
        check_nfc(text, key)
        (out_lists / f"{key}.json").write_text(text, "utf-8")
    names = []
    for i, (slug, cs) in enumerate(ordered, start=1):
        name = f"changesets/{i:03d}-{slug}.json"
        text = changeset_text(cs)
        check_nfc(text, name)
        json.loads(text)
        (DATA / name).write_text(text, "utf-8")
        names.append(name)
    manifest = {
        "lists": ["lists/admin-units.json", "lists/agencies.json", "lists/procedures.json",
                  *[f"lists/{key}.json" for key, *_ in lists]],
        "changesets": names,
    }
    (DATA / "manifest.json").write_text(
        "{\n" + f'  "lists": {dumps(manifest["lists"])},\n  "changesets": [\n'
        + ",\n".join(f"    {dumps(n)}" for n in names) + "\n  ]\n}\n", "utf-8")

    # summary
    b, a = result["before"], result["after"]
    print("vietnamadminunits", importlib.metadata.version("vietnamadminunits"),
          "| pycountry", importlib.metadata.version("pycountry"))
    print(f"before 2025-07-01: {sum(b['province'].values())} provinces {dict(b['province'])}, "
          f"{sum(b['district'].values())} districts {dict(b['district'])}, "
          f"{sum(b['commune'].values())} communes {dict(b['commune'])}")
    print(f"  (source wardType column: {dict(src['raw_types'])}; "
          f"{len(src['districts']) - len({c['parent'] for c in src['communes'].values()})} "
          "island districts without communes)")
    print(f"after 2025-07-01: {sum(a['province'].values())} provinces {dict(a['province'])}, "
          f"{sum(a['commune'].values())} communes {dict(a['commune'])}, no districts")
    print(f"lineage: {result['links']} links; {result['continued']} old communes keep their "
          f"code; {result['divided']} divided communes, one default each "
          f"({len(overridden)} defaults moved to the code keeper: {', '.join(overridden)})")
    print(f"code 15: {RECODED['15'][0]} -> {RECODED['15'][1]}; 00013 -> 00004 Phường Ba Đình; "
          f"special zones {', '.join(sorted(ISLAND_ZONES))} created")
    print(f"corrections to the source ({len(corr.items)}):")
    for item in corr.items:
        print("  " + item)
    print(f"wrote {len(names)} change sets, {len(lists)} list definitions, manifest.json "
          f"under {DATA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        print(f"build_data: CHECK FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
