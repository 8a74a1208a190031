"""``convertCodes`` and ``convertAddresses``: conversion in bulk over GraphQL (DESIGN §11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from registry.graphql.gazetteers import GAZETTEERS
from tests.factories import hanoi, keep_give_split, publish, unit
from tests.graphql.conftest import Api, Statements

Write = Callable[[Callable[..., Any]], Any]
AU = "admin-units"

UNIT = "code name type level districtCode districtName provinceCode provinceName"
CODES = f'''query($codes: [String!]!, $fromDate: Date, $toDate: Date, $atRelease: Int) {{
  convertCodes(codes: $codes, fromDate: $fromDate, toDate: $toDate, atRelease: $atRelease) {{
    release fromDate toDate counts {{ status count }}
    items {{ input status confidence reason old {{ {UNIT} }}
             new {{ isDefault kinds unit {{ {UNIT} }} }} alternatives {{ code }} }} }} }}'''
ADDRESSES = '''query($addresses: [String!]!, $fromDate: Date, $toDate: Date, $atRelease: Int) {
  convertAddresses(addresses: $addresses, fromDate: $fromDate, toDate: $toDate,
                   atRelease: $atRelease) {
    release fromDate toDate counts { status count }
    items { input status confidence reason old { code name }
            new { isDefault unit { code name } } alternatives { code name } } } }'''
SMALL = '''query($codes: [String!]!) { convertCodes(codes: $codes) {
  release items { input status new { unit { code } } } } }'''


def _reform(write: Write) -> dict[str, int]:
    """Hà Nội before and after a reform on 2025-07-01: 00013 merges wholly into 00004,
    which keeps its code and gives a part to the new 00040 (with all of 00001); 00037 is
    divided between 00038 (default) and 00039; 00007 ends with no successor. Hoàn Kiếm
    has a Phường Quán Thánh of its own, 00019."""
    first = write(hanoi)
    extra = write(lambda s: publish(s, [unit("00007", "Phường Điện Biên", "Phường", "001"),
                                        unit("00019", "Phường Quán Thánh", "Phường", "002")]))
    reform = write(lambda s: publish(s, [
        *keep_give_split(), {"op": "retire", "list": AU, "code": "00007"}], "2025-07-01"))
    return {"first": first, "extra": extra, "reform": reform}


def _by_input(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["input"]: item for item in result["items"]}


def _new(item: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(c["unit"]["code"], c["isDefault"]) for c in item["new"]]


def test_each_status_of_a_code(api: Api, write: Write) -> None:
    releases = _reform(write)
    codes = ["00013", "00004", "00037", "00007", "99999", " 00013 "]
    got = api(CODES, {"codes": codes, "toDate": "2025-08-01"})["convertCodes"]
    assert (got["release"], got["fromDate"], got["toDate"]) == (
        releases["reform"], None, "2025-08-01")
    assert [i["input"] for i in got["items"]] == codes  # in order, as given
    items = _by_input(got)
    merged = items["00013"]
    assert (merged["status"], merged["confidence"], merged["reason"]) == ("EXACT", 1.0, "")
    assert merged["old"] == {"code": "00013", "name": "Phường Quán Thánh", "type": "Phường",
                             "level": "commune", "districtCode": "001",
                             "districtName": "Quận Ba Đình", "provinceCode": "01",
                             "provinceName": "Thành phố Hà Nội"}
    assert [(c["unit"]["code"], c["unit"]["name"], c["isDefault"], c["kinds"])
            for c in merged["new"]] == [("00004", "Phường Ba Đình", True, ["whole"])]
    kept = items["00004"]
    assert (kept["status"], kept["reason"], kept["confidence"]) == (
        "AMBIGUOUS", "kept_code_gave_parts", 0.5)
    assert _new(kept) == [("00004", True), ("00040", False)]
    divided = items["00037"]
    assert (divided["status"], divided["reason"]) == ("AMBIGUOUS", "divided")
    assert _new(divided) == [("00038", True), ("00039", False)]
    ended = items["00007"]
    assert (ended["status"], ended["reason"], ended["old"]["name"], ended["new"]) == (
        "NOT_FOUND", "no_successor", "Phường Điện Biên", [])
    unknown = items["99999"]
    assert (unknown["status"], unknown["reason"], unknown["old"], unknown["new"],
            unknown["confidence"]) == ("NOT_FOUND", "unknown_code", None, [], 0.0)
    assert items[" 00013 "]["status"] == "EXACT"  # blanks around a code do not matter
    assert got["counts"] == [{"status": "EXACT", "count": 2}, {"status": "MATCHED", "count": 0},
                             {"status": "AMBIGUOUS", "count": 2},
                             {"status": "NOT_FOUND", "count": 2}]


def test_the_dates_choose_the_units(api: Api, write: Write) -> None:
    _reform(write)
    # Before the reform took effect, every code is still itself.
    before = api(CODES, {"codes": ["00037", "00001"], "toDate": "2025-06-30"})["convertCodes"]
    assert before["fromDate"] is None
    assert [(i["status"], _new(i)) for i in before["items"]] == [
        ("EXACT", [("00037", True)]), ("EXACT", [("00001", True)])]
    # A code of the new units, converted from a date on which it exists.
    after = api(CODES, {"codes": ["00040", "00037"], "fromDate": "2025-07-01",
                        "toDate": "2025-08-01"})["convertCodes"]
    assert [(i["status"], i["reason"]) for i in after["items"]] == [
        ("EXACT", ""), ("NOT_FOUND", "unknown_code")]


def test_the_release_is_named_and_at_release_gives_the_same_answer(api: Api,
                                                                   write: Write) -> None:
    releases = _reform(write)
    asked = {"codes": ["00001", "00004", "00037", "00040"], "fromDate": "2025-06-30",
             "toDate": "2025-09-01"}
    first = api(CODES, asked)["convertCodes"]
    assert first["release"] == releases["reform"]
    later = write(lambda s: publish(s, [
        {"op": "transfer", "list": AU, "from": "00040", "to": "00038", "share": 0.1},
    ], "2025-09-01"))
    now = api(CODES, asked)["convertCodes"]
    assert now["release"] == later
    assert _by_input(now)["00001"]["status"] == "AMBIGUOUS"  # 00040 gave a part away too
    assert _by_input(first)["00001"]["status"] == "EXACT"
    again = api(CODES, {**asked, "atRelease": first["release"]})["convertCodes"]
    assert again == first


def test_the_kept_gazetteer_never_outlives_a_publish(api: Api, write: Write,
                                                     statements: Callable[[], Statements]
                                                     ) -> None:
    _reform(write)
    asked = {"codes": ["00040"], "toDate": "2025-09-01"}
    with statements() as cold:
        first = api(CODES, asked)["convertCodes"]
    with statements() as warm:
        assert api(CODES, asked)["convertCodes"] == first
    assert warm.count < cold.count and warm.count <= 3, warm.sql
    write(lambda s: publish(s, [
        {"op": "transfer", "list": AU, "from": "00040", "to": "00038", "share": 0.1},
    ], "2025-09-01"))
    changed = api(CODES, asked)["convertCodes"]
    assert changed["release"] == first["release"] + 1
    assert (changed["items"][0]["status"], _new(changed["items"][0])) == (
        "AMBIGUOUS", [("00040", True), ("00038", False)])


def test_a_thousand_codes_fit_and_one_more_is_refused(api: Api, write: Write,
                                                      statements: Callable[[], Statements]
                                                      ) -> None:
    _reform(write)
    thousand = [f"{i:05d}" for i in range(1_000)]
    got = api(CODES, {"codes": thousand, "toDate": "2025-08-01"})["convertCodes"]
    assert len(got["items"]) == 1_000
    assert sum(c["count"] for c in got["counts"]) == 1_000
    for too_many in (1_001, 50_000):
        with statements() as counted:
            errors = api.errors(SMALL, {"codes": ["00001"] * too_many})
        assert [(e["extensions"]["code"], e["extensions"]["field"], e["extensions"]["rule"])
                for e in errors] == [("validation", "codes", "max_items")]
        assert f"not {too_many}" in errors[0]["message"]
        assert counted.count == 0, counted.sql  # refused before any read


def test_the_cost_limit_bounds_fields_and_aliases(api: Api, write: Write,
                                                  statements: Callable[[], Statements]
                                                  ) -> None:
    _reform(write)
    thousand = ["00001"] * 1_000
    both = '''query($a: [String!]!, $b: [String!]!) {
      one: convertCodes(codes: $a) { release items { status } }
      two: convertAddresses(addresses: $b) { release items { status } } }'''
    with statements() as counted:
        errors = api.errors(both, {"a": thousand, "b": thousand})
    assert [e["extensions"]["code"] for e in errors] == ["too_costly"]
    assert "items to convert" in errors[0]["message"]
    assert counted.count == 0
    # Inline lists are counted too.
    inline = ", ".join(['"00001"'] * 800)
    doubled = f'{{ a: convertCodes(codes: [{inline}]) {{ release }} ' \
              f'b: convertCodes(codes: [{inline}]) {{ release }} }}'
    assert [e["extensions"]["code"] for e in api.errors(doubled)] == ["too_costly"]
    # Every alias reads a gazetteer: many aliases are refused even with one code each.
    aliases = " ".join(f'a{i}: convertCodes(codes: ["00001"], toDate: "2025-08-0{i + 1}") '
                       "{ release }" for i in range(7))
    assert [e["extensions"]["code"] for e in api.errors(f"{{ {aliases} }}")] == ["too_costly"]
    few = " ".join(f'a{i}: convertCodes(codes: ["00001"], toDate: "2025-08-0{i + 1}") '
                   "{ release }" for i in range(3))
    assert len(api(f"{{ {few} }}")) == 3


def test_anonymous_reads_may_convert(make_api: Callable[..., Api], write: Write,
                                     token: Callable[..., str]) -> None:
    _reform(write)
    assert api_items(make_api(), {"codes": ["00013"]}) == ["EXACT"]
    closed = make_api(anonymous_read=False)
    response = closed.post(SMALL, {"codes": ["00013"]})
    assert response.status_code == 401
    assert api_items(closed, {"codes": ["00013"]}, token("reader", "reader")) == ["EXACT"]


def api_items(api: Api, variables: dict[str, Any], secret: str | None = None) -> list[str]:
    """The statuses of a small conversion."""
    return [i["status"] for i in api(SMALL, variables, secret)["convertCodes"]["items"]]


@pytest.mark.parametrize(("variables", "field", "rule"), [
    ({"atRelease": 999}, "atRelease", "range"),
    ({"fromDate": "2025-09-01", "toDate": "2025-08-01"}, "fromDate", "order"),
])
def test_bad_arguments_are_typed_errors(api: Api, write: Write, variables: dict[str, Any],
                                        field: str, rule: str) -> None:
    _reform(write)
    errors = api.errors(CODES, {"codes": ["00001"], **variables})
    assert [(e["extensions"]["code"], e["extensions"]["field"], e["extensions"]["rule"])
            for e in errors] == [("validation", field, rule)]


def test_an_unknown_list_is_not_found(api: Api, write: Write) -> None:
    _reform(write)
    errors = api.errors('{ convertCodes(list: "nope", codes: ["1"]) { release } }')
    assert errors[0]["extensions"]["code"] == "not_found"
    assert "nope" in errors[0]["message"]


def test_codes_a_client_makes_up_do_not_grow_the_kept_gazetteer(api: Api,
                                                                write: Write) -> None:
    _reform(write)
    api(SMALL, {"codes": ["00013"]})
    kept = [v.value for k, v in GAZETTEERS.cache._items.items()
            if k[0] == str(api.app.state.engine.url)]
    assert len(kept) == 1
    before = len(kept[0]._cache)
    made_up = [f"x{i}" for i in range(500)]
    assert set(api_items(api, {"codes": made_up})) == {"NOT_FOUND"}
    assert len(kept[0]._cache) == before


def test_each_status_of_an_address(api: Api, write: Write) -> None:
    releases = _reform(write)
    addresses = ["Phường Quán Thánh, Quận Ba Đình, Thành phố Hà Nội",
                 "P. Quán Thánh, Q. Ba Đình, HN",
                 "phuong quan thanh quan ba dinh ha noi",
                 "Phường Quán Thánh, Hà Nội",
                 "P Phuc Tan, Hoan Kiem, Ha Noi",
                 "Phường Trúc Bạch, Ba Đình, Hà Nội",
                 "Phường Điện Biên, Ba Đình, Hà Nội",
                 "Phố Không Có, Hà Nội"]
    got = api(ADDRESSES, {"addresses": addresses, "toDate": "2025-08-01"})["convertAddresses"]
    assert (got["release"], got["fromDate"], got["toDate"]) == (
        releases["reform"], None, "2025-08-01")
    assert [i["input"] for i in got["items"]] == addresses
    answers = [(i["status"], (i["old"] or {}).get("code"),
                [(c["unit"]["code"], c["isDefault"]) for c in i["new"]])
               for i in got["items"]]
    assert answers == [
        ("EXACT", "00013", [("00004", True)]),
        ("MATCHED", "00013", [("00004", True)]),
        ("MATCHED", "00013", [("00004", True)]),
        ("AMBIGUOUS", None, []),
        ("AMBIGUOUS", "00037", [("00038", True), ("00039", False)]),
        ("AMBIGUOUS", "00004", [("00004", True), ("00040", False)]),
        ("NOT_FOUND", "00007", []),
        ("NOT_FOUND", None, []),
    ]
    items = got["items"]
    assert items[0]["confidence"] == 1.0
    assert 0 < items[2]["confidence"] < items[1]["confidence"] < 1.0
    assert "abbreviation" in items[1]["reason"]
    assert (items[3]["reason"], sorted(u["code"] for u in items[3]["alternatives"])) == (
        "same_name", ["00013", "00019"])
    assert [items[i]["reason"] for i in (4, 5, 6)] == [
        "divided", "kept_code_gave_parts", "no_successor"]
    assert got["counts"] == [{"status": "EXACT", "count": 1}, {"status": "MATCHED", "count": 2},
                             {"status": "AMBIGUOUS", "count": 3},
                             {"status": "NOT_FOUND", "count": 2}]


def test_addresses_at_a_release(api: Api, write: Write) -> None:
    releases = _reform(write)
    asked = {"addresses": ["Phường Phúc Xá, Ba Đình, Hà Nội"], "fromDate": "2025-06-30",
             "toDate": "2025-09-01"}
    first = api(ADDRESSES, asked)["convertAddresses"]
    write(lambda s: publish(s, [
        {"op": "transfer", "list": AU, "from": "00040", "to": "00038", "share": 0.1},
    ], "2025-09-01"))
    now = api(ADDRESSES, asked)["convertAddresses"]
    assert (now["release"], now["items"][0]["status"]) == (releases["reform"] + 1, "AMBIGUOUS")
    assert (first["release"], first["items"][0]["status"]) == (releases["reform"], "EXACT")
    assert api(ADDRESSES, {**asked, "atRelease": releases["reform"]})["convertAddresses"] \
        == first


def test_a_thousand_addresses_and_one_more(api: Api, write: Write) -> None:
    _reform(write)
    thousand = ["P. Quán Thánh, Q. Ba Đình, HN"] * 1_000
    got = api(ADDRESSES, {"addresses": thousand})["convertAddresses"]
    assert got["counts"][1] == {"status": "MATCHED", "count": 1_000}
    errors = api.errors(ADDRESSES, {"addresses": [*thousand, "x"]})
    assert [(e["extensions"]["field"], e["extensions"]["rule"]) for e in errors] == [
        ("addresses", "max_items")]
