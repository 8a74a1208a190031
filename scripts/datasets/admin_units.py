"""Administrative units, from the statistics office's own tables (registry/data/sources/).

* The baseline: the 63 provinces, 696 districts and 10,035 communes that the conversion
  table converts (the state on 2025-06-30), named and typed as the office's list of
  2025-01-04 names them. Where a unit changed between January and June 2025 (another type
  word, or another name, not only another spelling), the conversion table, which describes
  the day before the reform, is followed instead. Every such choice is printed.
* The reform of 2025-07-01: one manifest entry per new province that names the conversion
  table, so that ``registry demo`` loads it through ``registry import conversion-table``.
* The check: the bundle is loaded into a scratch registry and its lineage is compared with
  the official table, read here with a plain CSV reader (independently of the importer).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from datasets.common import BASELINE_DATE, LB_202, REFORM_DATE, SOURCES, check, nfc

ADMIN = "admin-units"
LIST_FILE = "nso-communes-2025-01-04.csv"
TABLE_FILE = "nso-conversion-2025-07-01.csv"
FIXES_FILE = "nso-conversion-2025-07-01-fixes.csv"

LB_124 = {"number": "124/2004/QĐ-TTg", "date": "2004-07-08", "issuer": "Thủ tướng Chính phủ"}
NASC_DATE = "2025-06-16"
NASC_ISSUER = "Ủy ban Thường vụ Quốc hội"
# Resolutions of the National Assembly Standing Committee on the communes of each new
# province, all dated 16 June 2025, by new province code (docs/data-sources.md).
NASC = {
    "01": "1656", "04": "1657", "08": "1684", "11": "1661", "12": "1670", "14": "1681",
    "15": "1673", "19": "1683", "20": "1672", "22": "1679", "24": "1658", "25": "1676",
    "31": "1669", "33": "1666", "37": "1674", "38": "1686", "40": "1678", "42": "1665",
    "44": "1680", "46": "1675", "48": "1659", "51": "1677", "52": "1664", "56": "1667",
    "66": "1660", "68": "1671", "75": "1662", "79": "1685", "80": "1682", "82": "1663",
    "86": "1687", "91": "1654", "92": "1668", "96": "1655",
}
BEFORE = {"province": 63, "district": 696, "commune": 10_035}
AFTER_PROVINCE_TYPES = {"Tỉnh": 28, "Thành phố Trung ương": 6}
AFTER_COMMUNE_TYPES = {"Xã": 2_621, "Phường": 687, "Đặc khu": 13}
ISLAND_ZONES = {"11948": "318", "19742": "471", "20333": "498", "21548": "536",
                "26732": "755"}
RECODED = {"15": ("Tỉnh Yên Bái", "Tỉnh Lào Cai"), "24": ("Tỉnh Bắc Giang", "Tỉnh Bắc Ninh"),
           "44": ("Tỉnh Quảng Bình", "Tỉnh Quảng Trị"), "52": ("Tỉnh Bình Định", "Tỉnh Gia Lai"),
           "80": ("Tỉnh Long An", "Tỉnh Tây Ninh"), "82": ("Tỉnh Tiền Giang", "Tỉnh Đồng Tháp"),
           "91": ("Tỉnh Kiên Giang", "Tỉnh An Giang")}
TYPES = {
    "province": ("Thành phố", "Tỉnh"),
    "district": ("Thành phố", "Thị xã", "Quận", "Huyện"),
    "commune": ("Thị trấn", "Phường", "Xã"),
}
_PAIR = re.compile(r"^(.*?)\s*\((\d+)\)$")
# Abbreviations the office uses in names ("Thị trấn NT Liên Sơn" = Nông trường).
_ABBREVIATIONS = (("n.t ", "nong truong "), ("nt ", "nong truong "))


def clean(text: str) -> str:
    """NFC with blanks collapsed, as the registry's importers read cells."""
    return " ".join(nfc(text).split())


def typed(name: str, level: str) -> tuple[str, str]:
    """``name`` with its type word in the official case, and that type ("Thị Xã X" →
    ("Thị xã X", "Thị xã")). A name with no known type word fails the build."""
    type_ = type_word(name, level)
    check(type_ is not None, f"{level} {name!r} starts with no type word")
    assert type_ is not None
    return type_ + name[len(type_):], type_


def type_word(name: str, level: str) -> str | None:
    """The type word ``name`` starts with, in any case; None when it has none."""
    for type_ in TYPES[level]:
        if name.lower().startswith(type_.lower() + " "):
            return type_
    return None


def _fold(text: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFD", text.lower())
                    if not unicodedata.combining(c)).replace("đ", "d")
    for short, long in _ABBREVIATIONS:
        plain = plain.replace(short, long)
    return re.sub(r"[^a-z0-9]", "", plain)


def _distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def spelling_only(a: str, b: str, level: str) -> bool:
    """Two names of one unit differ only in spelling: the same type word, and the rest
    equal but for diacritics, tone-mark placement, punctuation, the office's abbreviations
    or at most two letters ("Xà Phìn" / "Sà Phìn", "Quí" / "Quý")."""
    ta, tb = type_word(a, level), type_word(b, level)
    if ta is not None and tb is not None and ta != tb:
        return False
    # A name written without its type word ("Xuân Quang 3") is compared by the rest.
    ra, rb = _fold(a[len(ta or ""):]), _fold(b[len(tb or ""):])
    return ra == rb or _distance(ra, rb) <= 2 or _distance(_fold(a), _fold(b)) <= 2


@dataclass
class Official:
    """What the two official tables say, read with a plain CSV reader."""

    listed: dict[str, dict[str, str]]  # commune code → row of the list of 2025-01-04
    districts: dict[str, tuple[str, str]]  # code → (name, province) in that list
    provinces: dict[str, str]  # code → name in that list
    links: list[dict[str, str]]  # the conversion table's rows (typos fixed)
    fixes: dict[tuple[str, str], str]
    notes: list[str] = field(default_factory=list)


def read_official() -> Official:
    """Both tables, and the three known typos of the conversion table."""
    listed: dict[str, dict[str, str]] = {}
    districts: dict[str, tuple[str, str]] = {}
    provinces: dict[str, str] = {}
    with open(SOURCES / LIST_FILE, encoding="utf-8-sig", newline="") as handle:
        for raw in csv.DictReader(handle):
            row = {k: clean(v) for k, v in raw.items()}
            provinces[row["Mã TP"]] = row["Tỉnh Thành Phố"]
            districts[row["Mã QH"]] = (row["Quận Huyện"], row["Mã TP"])
            if row["Mã PX"]:
                check(row["Mã PX"] not in listed, f"{LIST_FILE}: {row['Mã PX']} repeats")
                listed[row["Mã PX"]] = row
    fixes: dict[tuple[str, str], str] = {}
    with open(SOURCES / FIXES_FILE, encoding="utf-8", newline="") as handle:
        for row in list(csv.reader(handle))[1:]:
            fixes[(row[0], row[1])] = row[2]
    links = []
    with open(SOURCES / TABLE_FILE, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    for cells in rows[2:]:
        cells = [clean(c) for c in cells]
        if sum(1 for c in cells if c) <= 1:
            continue
        row = dict(zip(("province", "new_name", "new", "old_name", "old", "note", "district",
                        "old_province"), cells, strict=False))
        row["old"] = fixes.get((row["new"], row["old"]), row["old"])
        for key in ("province", "district", "old_province"):
            match = _PAIR.match(row[key])
            check(match is not None, f"{TABLE_FILE}: {row[key]!r} is not 'Name (code)'")
            assert match is not None
            row[key + "_name"], row[key] = match[1], match[2]
        links.append(row)
    check(len(links) == 10_571, f"{TABLE_FILE}: {len(links)} rows, expected 10,571")
    return Official(listed, districts, provinces, links, fixes)


def baseline(official: Official, corrections: list[str]) -> dict[str, Any]:
    """The change set of the state before the reform (see the module docstring)."""
    old = {row["old"]: row for row in official.links if row["old"]}
    check(len(old) == BEFORE["commune"], f"{len(old)} old communes in the table")
    communes: dict[str, dict[str, Any]] = {}
    for code in sorted(old):
        row = old[code]
        listed = official.listed.get(code)
        name = row["old_name"]
        if listed is None:
            corrections.append(f"commune {code} {name!r}: not in the list of 2025-01-04 "
                               "(created before the reform): named as the conversion table")
        elif listed["Phường Xã"] == name or spelling_only(listed["Phường Xã"], name, "commune"):
            name = listed["Phường Xã"]
        else:
            corrections.append(f"commune {code}: {listed['Phường Xã']!r} in January, "
                               f"{name!r} before the reform: the later state is kept")
        check(listed is None or listed["Mã QH"] == row["district"],
              f"commune {code}: district {row['district']} in the table")
        fixed, type_ = typed(name, "commune")
        if fixed != name:
            corrections.append(f"commune {code}: {name!r} → {fixed!r}")
        if listed is not None and listed["Cấp"] != type_ and name == listed["Phường Xã"]:
            corrections.append(f"commune {code} {fixed!r}: typed {listed['Cấp']!r} in the list; "
                               f"{type_!r} from its name")
        communes[code] = {"code": code, "name": fixed, "type": type_, "parent": row["district"]}
    used = {c["parent"] for c in communes.values()} | set(ISLAND_ZONES.values())
    table_districts = {row["district"]: row["district_name"] for row in official.links}
    districts: dict[str, dict[str, Any]] = {}
    for code in sorted(used):
        name, province = official.districts[code]
        later = table_districts[code]
        if not (name == later or spelling_only(name, later, "district")):
            corrections.append(f"district {code}: {name!r} in January, {later!r} before the "
                               "reform: the later state is kept")
            name = later
        fixed, type_ = typed(name, "district")
        if fixed != name:
            corrections.append(f"district {code}: {name!r} → {fixed!r}")
        districts[code] = {"code": code, "name": fixed, "type": type_, "parent": province}
    provinces: dict[str, dict[str, Any]] = {}
    for code in sorted({d["parent"] for d in districts.values()}):
        fixed, type_ = typed(official.provinces[code], "province")
        provinces[code] = {"code": code, "name": fixed,
                           "type": "Thành phố Trung ương" if type_ == "Thành phố" else "Tỉnh"}
    check(len(provinces) == BEFORE["province"], f"{len(provinces)} provinces before")
    check(len(districts) == BEFORE["district"], f"{len(districts)} districts before")
    for code, (before, _after) in RECODED.items():
        check(provinces[code]["name"] == before, f"province {code} before is {before}")
    check(communes["00004"]["name"] == "Phường Trúc Bạch", "00004 is Phường Trúc Bạch")
    ops = []
    for group in (provinces, districts, communes):
        for unit in group.values():
            ops.append({"op": "create", "list": ADMIN, **unit,
                        "short_name": _short(unit["name"])})
    return {
        "title": "Danh mục đơn vị hành chính trước sắp xếp năm 2025: ảnh chụp trạng thái "
                 "(63 tỉnh, 696 huyện, 10.035 xã; mã theo Quyết định 124/2004/QĐ-TTg; tên theo "
                 "danh mục của Cục Thống kê ngày 04/01/2025). Ngày hiệu lực là ngày của ảnh "
                 "chụp, không phải ngày thành lập thực tế của các đơn vị. / Snapshot of the "
                 "pre-reform list, not the units' real creation dates.",
        "legal_basis": LB_124,
        "effective_date": BASELINE_DATE,
        "operations": ops,
    }


def _short(name: str) -> str:
    # The registry's own rule (registry.importers.gso.short_name), so that a later import
    # of an office file derives the same short names.
    from registry.importers.gso import short_name

    return short_name(name)


def reform_entries(official: Official, base: dict[str, Any]) -> list[dict[str, Any]]:
    """One manifest entry per new province: the conversion table, planned at load time."""
    names = {op["code"]: op["name"] for op in base["operations"]}
    parents = {op["code"]: op.get("parent") for op in base["operations"]}
    members: dict[str, set[str]] = defaultdict(set)
    new_names: dict[str, str] = {}
    for row in official.links:
        district = row["district"]
        members[row["province"]].add(parents[district] or "")
        new_names[row["province"]] = row["province_name"]
    check(len(members) == 34, f"{len(members)} new provinces in the table")
    entries = []
    for code in sorted(members):
        number = NASC.get(code)
        basis = ({"number": f"{number}/NQ-UBTVQH15", "date": NASC_DATE, "issuer": NASC_ISSUER}
                 if number else LB_202)
        merged = ", ".join(names[c] for c in sorted(members[code]))
        title = (f"Sắp xếp đơn vị hành chính năm 2025: {new_names[code]} (cấp tỉnh theo Nghị "
                 f"quyết 202/2025/QH15: {merged}; cấp xã theo Nghị quyết {basis['number']}; "
                 "bỏ cấp huyện; theo bảng chuyển đổi của Cục Thống kê)")
        entries.append({"conversion_table": f"sources/{TABLE_FILE}",
                        "fixes": f"sources/{FIXES_FILE}", "province": code, "title": title,
                        "legal_basis": basis, "effective_date": REFORM_DATE})
    return entries


# --------------------------------------------------------------------------------------
# The check against the official table, on a registry loaded with the bundle
# --------------------------------------------------------------------------------------


def expected_lineage(official: Official) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Per old unit, its successors in the table; and the "toàn bộ dân số" successor."""
    successors: dict[str, set[str]] = defaultdict(set)
    people: dict[str, str] = {}
    for row in official.links:
        old = row["old"] or (row["district"] if row["note"].lower().startswith(
            "sắp xếp toàn bộ huyện") else "")
        if not old:
            continue  # an area without a code (docs/data-sources.md)
        successors[old].add(row["new"])
        if "toàn bộ dân số" in row["note"].lower():
            check(old not in people, f"{old}: two 'toàn bộ dân số' successors")
            people[old] = row["new"]
    return successors, people


def check_loaded(official: Official, state: dict[str, Any]) -> dict[str, Any]:
    """Compare what the loaded registry says with the official table; fail on any
    difference not explained. ``state`` holds the registry's answers (see build_data)."""
    before, after = state["before"], state["after"]
    links: list[tuple[str, str, str, bool]] = state["links"]  # from, to, kind, default
    census_before = Counter(u["level"] for u in before.values())
    check(dict(census_before) == BEFORE, f"state before the reform: {dict(census_before)}")
    provinces_after = Counter(u["type"] for u in after.values() if u["level"] == "province")
    communes_after = Counter(u["type"] for u in after.values() if u["level"] == "commune")
    check(dict(provinces_after) == AFTER_PROVINCE_TYPES, f"provinces after: {provinces_after}")
    check(dict(communes_after) == AFTER_COMMUNE_TYPES, f"communes after: {communes_after}")
    check(not any(u["level"] == "district" for u in after.values()), "districts remain")
    for code, (old_name, new_name) in RECODED.items():
        check(before[code]["name"] == old_name and after[code]["name"] == new_name,
              f"province {code}: {old_name} before, {new_name} after")
    new_rows = {row["new"]: row for row in official.links}
    spellings: dict[str, set[str]] = defaultdict(set)
    for row in official.links:
        spellings[row["new"]].add(row["new_name"])
    check(set(new_rows) == {c for c, u in after.items() if u["level"] == "commune"},
          "the communes after the reform are the table's")
    explained: list[str] = []
    for code, row in new_rows.items():
        unit = after[code]
        if unit["name"] not in spellings[code] and any(
                _fold(unit["name"]) == _fold(n) and unit["name"].split(" ", 1)[1:]
                == n.split(" ", 1)[1:] for n in spellings[code]):
            explained.append(f"{code}: the table's type word in {sorted(spellings[code])} "
                             f"is read as {unit['name']!r}")
            continue
        check(unit["name"] in spellings[code] and unit["parent"] == row["province"],
              f"{code} after: {unit['name']!r} under {unit['parent']}, the table says "
              f"{row['new_name']!r} under {row['province']}")

    successors, people = expected_lineage(official)
    got: dict[str, set[str]] = defaultdict(set)
    defaults: dict[str, list[str]] = defaultdict(list)
    for source, target, _kind, default in links:
        got[source].add(target)
        if default:
            defaults[source].append(target)
    # A code that is still active on the reform's date continues: it is its own successor.
    for code, unit in after.items():
        if unit["level"] == "commune" and code in before:
            got[code].add(code)
    old_communes = [c for c, u in before.items() if u["level"] == "commune"]
    equal = sum(1 for c in old_communes if got.get(c) == successors[c])
    check(equal == len(old_communes),
          "successor sets differ from the table for "
          + ", ".join(f"{c} {sorted(got.get(c, ()))} != {sorted(successors[c])}"
                      for c in old_communes if got.get(c) != successors[c])[:600])
    for zone, district in ISLAND_ZONES.items():
        check(got[district] == {zone}, f"island district {district} → {zone}")
    # A divided code that continues records no link to itself: it is its own default
    # unless a link to another successor is marked default (the whole population went
    # there).
    for code in after:
        if code in before and not defaults.get(code):
            defaults[code] = [code]
    divided = [c for c in successors if len(successors[c]) > 1]
    official_default = sum(1 for c in divided if len(defaults[c]) == 1
                           and defaults[c][0] in successors[c])
    check(official_default == len(divided), "a divided unit's default is not one official "
          "successor: " + ", ".join(c for c in divided if len(defaults[c]) != 1
                                    or defaults[c][0] not in successors[c]))
    followed = sum(1 for c, new in people.items() if len(successors[c]) < 2
                   or defaults[c] == [new])
    check(followed == len(people), "a 'toàn bộ dân số' successor is not the default")
    continuing = [c for c in divided if c in after]
    new_names = {row["new"]: row["new_name"] for row in official.links}
    rules: Counter[str] = Counter()
    for code in divided:
        chosen = defaults[code][0]
        if people.get(code) == chosen:
            rules["the whole population went there"] += 1
        elif chosen == code:
            rules["keeps the code"] += 1
        elif _fold(new_names[chosen].split(" ", 1)[-1]) == \
                _fold(before[code]["name"].split(" ", 1)[-1]):
            rules["keeps the name"] += 1
        else:
            rules["first listed in the table"] += 1
    return {"rules": dict(rules), "old": len(old_communes), "equal": equal,
            "divided": len(divided),
            "defaults": official_default, "people": len(people),
            "people_followed": followed, "continuing": len(continuing),
            "links": len(links), "explained": explained}
