"""The small lists: ethnic groups (Decision 1019/QĐ-TCTK), nationalities (ISO 3166-1, with
the Vietnamese names of Debian's iso-codes translations), sexes (ISO/IEC 5218) and a sample
of religions."""

from __future__ import annotations

import gettext
import importlib.metadata
import re
from typing import Any

from datasets.common import BASELINE_DATE, check, nfc

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

# Earlier English short names of countries ISO renamed, as iso-codes' translations know them.
EARLIER_NAMES = {"CV": "Cape Verde", "CZ": "Czech Republic", "MK": "Macedonia, Republic of",
                 "SZ": "Swaziland", "TR": "Turkey"}
UNTRANSLATED: list[str] = []  # filled by changesets(), printed by the build
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


def changesets() -> list[tuple[str, dict[str, Any], str, dict[str, Any]]]:
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
        "name_en": "Countries and territories (ISO 3166-1 alpha-2; Vietnamese names from the "
                   "iso-codes translations)",
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
    vietnamese = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["vi"])
    ops = []
    untranslated = []
    for c in countries:
        check(re.fullmatch("[A-Z]{2}", c.alpha_2) is not None, f"alpha-2 {c.alpha_2}")
        check(re.fullmatch("[A-Z]{3}", c.alpha_3) is not None, f"alpha-3 {c.alpha_3}")
        check(re.fullmatch(r"\d{3}", c.numeric) is not None, f"numeric {c.numeric}")
        attributes = {"alpha_3": c.alpha_3, "numeric": c.numeric}
        official = getattr(c, "official_name", None)
        if official:
            attributes["official_name"] = nfc(official)
        english = nfc(c.name)
        # ISO renamed a few countries after the translators' last pass; their earlier
        # English name still carries the Vietnamese one.
        name = nfc(vietnamese.gettext(c.name))
        if name == english and c.alpha_2 in EARLIER_NAMES:
            earlier = EARLIER_NAMES[c.alpha_2]
            translated = nfc(vietnamese.gettext(earlier))
            name = translated if translated != earlier else english
        if name == english:
            untranslated.append(c.alpha_2)
        ops.append({"op": "create", "list": "nationalities", "code": c.alpha_2,
                    "name": name, "name_en": english, "type": "Quốc gia, vùng lãnh thổ",
                    "attributes": attributes})
    check(len(untranslated) <= 6, f"nationalities without a Vietnamese name: {untranslated}")
    UNTRANSLATED[:] = untranslated
    check(any(o["code"] == "VN" and o["name"] == "Việt Nam"
              and o["attributes"]["alpha_3"] == "VNM" for o in ops), "VN is Việt Nam")
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


