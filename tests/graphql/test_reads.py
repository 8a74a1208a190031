"""Every root query field and the fields of entries, over HTTP on the real app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from registry.graphql.ids import to_global
from tests.graphql import data
from tests.graphql.conftest import Api

Write = Callable[[Callable[..., Any]], Any]
ON = '"2025-03-01"'  # before the merge of 2025-07-01
AFTER = '"2025-08-01"'


@pytest.fixture
def world(write: Write) -> dict[str, Any]:
    return write(data.world)  # type: ignore[no-any-return]


def test_code_lists_and_code_list(api: Api, world: dict[str, Any]) -> None:
    got = api('{ codeLists { key name nameEn owner release levels { key types parents } }'
              ' codeList(key: "admin-units") { id key definition }'
              ' missing: codeList(key: "nope") { key } }')
    keys = [c["key"] for c in got["codeLists"]]
    assert keys == ["admin-units", "agencies", "procedures"]
    levels = got["codeLists"][0]["levels"]
    assert [lv["key"] for lv in levels] == ["province", "district", "commune"]
    assert "Phường" in levels[2]["types"] and levels[2]["parents"] == ["district", "province"]
    assert got["codeList"]["definition"]["code_pattern"]
    assert got["codeList"]["id"] == to_global("CodeList", "admin-units")
    assert got["missing"] is None


def test_entry_with_every_field(api: Api, world: dict[str, Any]) -> None:
    got = api(f'''{{ entry(list: "admin-units", code: "00004", asOf: {ON}) {{
        __typename id list code name shortName nameEn type level status validFrom validTo
        attributes recordedRelease asOf
        parent {{ code name }} ancestors {{ code }}
        children(first: 5) {{ nodes {{ code }} }}
        history {{ name validFrom validTo recordedRelease supersededRelease legalNumber title }}
        successors {{ toCode }} predecessors {{ fromCode }}
        releasedIn {{ number publishedBy changeSet {{ number }} }}
        changeSet {{ number title status }} codeList {{ key }}
    }} }}''')["entry"]
    assert got["__typename"] == "AdministrativeUnit"
    assert got["id"] == to_global("Entry", "admin-units:00004")
    assert (got["list"], got["code"], got["name"]) == ("admin-units", "00004", "Phường Trúc Bạch")
    assert (got["type"], got["level"], got["status"]) == ("Phường", "commune", "active")
    assert got["validFrom"] == "2025-01-01" and got["validTo"] == "2025-07-01"
    assert got["asOf"] == "2025-03-01" and got["attributes"] == {}
    assert got["parent"] == {"code": "001", "name": "Quận Ba Đình"}
    assert [a["code"] for a in got["ancestors"]] == ["001", "01"]
    assert got["children"]["nodes"] == []
    assert [h["name"] for h in got["history"]] == ["Phường Trúc Bạch", "Phường Trúc Bạch",
                                                   "Phường Ba Đình"]
    assert got["history"][0]["supersededRelease"] == world["merge"]
    assert got["history"][0]["title"] == "test change"
    assert got["successors"] == [] and got["predecessors"] == []
    assert got["releasedIn"]["number"] == got["recordedRelease"] == world["merge"]
    assert got["changeSet"]["status"] == "PUBLISHED"
    assert got["codeList"] == {"key": "admin-units"}


def test_entry_absent_is_null(api: Api, world: dict[str, Any]) -> None:
    got = api('{ a: entry(list: "admin-units", code: "99999") { code }'
              ' b: entry(list: "admin-units", code: "00001", asOf: "2024-12-31") { code } }')
    assert got == {"a": None, "b": None}


def test_lineage_links(api: Api, world: dict[str, Any]) -> None:
    got = api(f'''{{
      before: entry(list: "admin-units", code: "00013", asOf: {ON}) {{ successors {{ toCode }} }}
      old: entry(list: "admin-units", code: "00013", asOf: {AFTER}) {{
        successors {{ fromCode toCode kind isDefault share effectiveDate release changeSetId
                      entry {{ code name status }} }} }}
      new: entry(list: "admin-units", code: "00004", asOf: {AFTER}) {{
        name predecessors {{ fromCode kind entry {{ code name status asOf }} }} }} }}''')
    assert got["before"]["successors"] == []  # on 2025-03-01 the merge had not happened
    [link] = got["old"]["successors"]
    assert (link["fromCode"], link["toCode"], link["kind"]) == ("00013", "00004", "WHOLE")
    assert link["isDefault"] is True and link["effectiveDate"] == "2025-07-01"
    assert link["release"] == world["merge"] and link["changeSetId"]
    assert link["entry"] == {"code": "00004", "name": "Phường Ba Đình", "status": "active"}
    [back] = got["new"]["predecessors"]
    assert back["fromCode"] == "00013"
    # A predecessor is shown as it was on its last day.
    assert back["entry"] == {"code": "00013", "name": "Phường Quán Thánh", "status": "active",
                             "asOf": "2025-06-30"}


def test_entries_filters_and_search(api: Api, world: dict[str, Any]) -> None:
    query = f'''query($parent: String, $level: String, $type: String, $search: String,
                      $status: String) {{
      entries(list: "admin-units", first: 10, parent: $parent, level: $level, type: $type,
              search: $search, status: $status, asOf: {AFTER}) {{
        edges {{ cursor node {{ code }} }} nodes {{ code name }}
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}'''

    def codes(**variables: Any) -> list[str]:
        return [n["code"] for n in api(query, variables)["entries"]["nodes"]]

    assert codes(parent="001") == ["00001", "00004"]
    assert codes(level="district") == ["001", "002"]
    assert codes(type="Thành phố Trung ương") == ["01"]
    assert codes(status="retired") == ["00013"]
    # Search ignores case, diacritics and tone marks; đ is d.
    assert codes(search="ba dinh") == ["00004", "001"]
    assert codes(search="BA ĐÌNH") == ["00004", "001"]
    assert codes(search="Ba \u0110i\u0300nh") == ["00004", "001"]  # NFD
    page = api(query, {"parent": "001"})["entries"]
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    assert page["pageInfo"]["hasNextPage"] is False


def test_unknown_list_is_not_found(api: Api, world: dict[str, Any]) -> None:
    [error] = api.errors('{ entries(list: "nope", first: 1) { nodes { code } } }')
    assert error["extensions"]["code"] == "not_found"
    assert "admin-units" in error["message"]


def test_typed_roots(api: Api, world: dict[str, Any]) -> None:
    got = api(f'''{{
      administrativeUnit(code: "001", asOf: {ON}) {{ __typename name }}
      notAUnit: administrativeUnit(code: "1.000001") {{ code }}
      administrativeUnits(first: 10, level: "province") {{ nodes {{ code }} }}
      agency(code: "{data.AGENCY_2}") {{
        __typename name address email website adminUnit {{ __typename code name }} }}
      agencies(first: 10, adminUnit: "01") {{ nodes {{ code }} }}
      l1: agencies(first: 10, level: "level-1") {{ nodes {{ code website }} }}
      procedure(code: "1.000001") {{
        __typename fieldCode fieldName levels onlineLevel processingTime fees
        implementingAgencies {{ __typename code }} competentAgency {{ code name }} }}
      byAgency: procedures(first: 10, agency: "{data.AGENCY_3}") {{ nodes {{ code }} }}
      byLevel: procedures(first: 10, carriedOutAt: "central") {{ nodes {{ code }} }}
      byField: procedures(first: 10, fieldCode: "GT") {{ nodes {{ code }} }}
      byCompetent: procedures(first: 10, competentAgency: "{data.AGENCY_1}") {{ nodes {{ code }} }}
    }}''')
    assert got["administrativeUnit"] == {"__typename": "AdministrativeUnit",
                                         "name": "Quận Ba Đình"}
    assert got["notAUnit"] is None
    assert got["administrativeUnits"]["nodes"] == [{"code": "01"}]
    agency = got["agency"]
    assert agency["__typename"] == "Agency" and agency["email"] == "csgt@bca.gov.vn"
    assert agency["adminUnit"] == {"__typename": "AdministrativeUnit", "code": "01",
                                   "name": "Thành phố Hà Nội"}
    assert [n["code"] for n in got["agencies"]["nodes"]] == [data.AGENCY_2, data.AGENCY_3]
    assert got["l1"]["nodes"] == [{"code": data.AGENCY_1, "website": "https://bocongan.gov.vn"}]
    procedure = got["procedure"]
    assert procedure["__typename"] == "Procedure" and procedure["fieldCode"] == "GT"
    assert procedure["levels"] == ["province"] and procedure["onlineLevel"] == "full"
    assert procedure["implementingAgencies"] == [
        {"__typename": "Agency", "code": data.AGENCY_2},
        {"__typename": "Agency", "code": data.AGENCY_3}]
    assert procedure["competentAgency"] == {"code": data.AGENCY_1, "name": "Bộ Công an"}
    assert [n["code"] for n in got["byAgency"]["nodes"]] == ["1.000001", "1.000002"]
    assert [n["code"] for n in got["byLevel"]["nodes"]] == ["1.000002"]
    assert [n["code"] for n in got["byField"]["nodes"]] == ["1.000001"]
    assert [n["code"] for n in got["byCompetent"]["nodes"]] == ["1.000001"]


def test_resolve(api: Api, world: dict[str, Any]) -> None:
    query = '''query($code: String!, $asOf: Date) {
      resolve(list: "admin-units", code: $code, asOf: $asOf) {
        list code asOf status endedOn ambiguous entry { code status }
        successors { isDefault kinds share entry { __typename code name } } } }'''
    active = api(query, {"code": "00013", "asOf": "2025-03-01"})["resolve"]
    assert active["status"] == "ACTIVE" and active["successors"] == []
    ended = api(query, {"code": "00013", "asOf": "2025-08-01"})["resolve"]
    assert ended["status"] == "ENDED" and ended["endedOn"] == "2025-07-01"
    assert ended["entry"] == {"code": "00013", "status": "retired"}
    assert ended["ambiguous"] is False
    assert ended["successors"] == [{"isDefault": True, "kinds": ["whole"], "share": None,
                                    "entry": {"__typename": "AdministrativeUnit",
                                              "code": "00004", "name": "Phường Ba Đình"}}]
    early = api(query, {"code": "00013", "asOf": "2024-01-01"})["resolve"]
    assert early["status"] == "NOT_YET" and early["entry"] is None
    [error] = api.errors(query, {"code": "77777"})
    assert error["extensions"]["code"] == "not_found"


def test_releases(api: Api, world: dict[str, Any]) -> None:
    got = api('{ release { id number publishedAt publishedBy note summary firstSeq lastSeq '
              'changeSetId changeSet { number } }'
              ' one: release(number: 1) { number note changeSet { number } }'
              ' releases(first: 2) { nodes { number } pageInfo { hasNextPage endCursor } } }')
    latest = got["release"]
    assert latest["number"] == world["merge"] == 5
    assert latest["summary"]["links"] == 1 and latest["firstSeq"] <= latest["lastSeq"]
    assert latest["changeSet"]["number"] == latest["changeSetId"]
    assert got["one"] == {"number": 1, "note": got["one"]["note"], "changeSet": None}
    page = got["releases"]
    assert [n["number"] for n in page["nodes"]] == [5, 4]
    rest = api('query($after: String) { releases(first: 10, after: $after) { nodes { number } '
               'pageInfo { hasNextPage hasPreviousPage } } }',
               {"after": page["pageInfo"]["endCursor"]})["releases"]
    assert [n["number"] for n in rest["nodes"]] == [3, 2, 1]
    assert rest["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


def test_change_sets(api: Api, world: dict[str, Any]) -> None:
    got = api('{ changeSets(first: 10, status: PUBLISHED) { nodes { number title status '
              'author reviewer effectiveDate releaseNumber version '
              'legalBasis { number date issuer url } } } }')["changeSets"]["nodes"]
    assert [n["title"] for n in got] == ["merge wards", "procedures", "agencies", "test change"]
    merge = got[0]
    assert merge["author"] == "system" and merge["releaseNumber"] == world["merge"]
    assert merge["legalBasis"] == {"number": "1/2025/TEST", "date": "2025-01-01",
                                   "issuer": "Test issuer", "url": None}
    number = merge["number"]
    one = api('query($id: ID!) { changeSet(id: $id) { id number operations { id position op '
              'list payload } events { action actor comment } preview } }',
              {"id": str(number)})["changeSet"]
    assert one["operations"][0]["op"] == "merge" and one["operations"][0]["list"] == "admin-units"
    assert [e["action"] for e in one["events"]] == ["create", "publish_direct", "publish"]
    assert one["preview"] is None  # published: nothing left to preview
    by_global = api('query($id: ID!) { changeSet(id: $id) { number } }',
                    {"id": one["id"]})["changeSet"]
    assert by_global == {"number": number}
    assert api('{ changeSet(id: 999) { number } }')["changeSet"] is None
    assert api('{ changeSets(first: 10, status: DRAFT) { nodes { number } } }')[
        "changeSets"]["nodes"] == []


def test_node(api: Api, world: dict[str, Any]) -> None:
    query = '''query($id: ID!) { node(id: $id, asOf: "2025-03-01") {
        __typename id ... on Entry { code name } ... on CodeList { key }
        ... on Release { number } ... on ChangeSet { number } } }'''
    entry = api(query, {"id": to_global("Entry", "admin-units:00013")})["node"]
    assert entry["__typename"] == "AdministrativeUnit" and entry["name"] == "Phường Quán Thánh"
    assert api(query, {"id": to_global("CodeList", "agencies")})["node"]["key"] == "agencies"
    assert api(query, {"id": to_global("Release", "2")})["node"]["number"] == 2
    assert api(query, {"id": to_global("ChangeSet", "1")})["node"]["number"] == 1
    assert api(query, {"id": to_global("Entry", "admin-units:55555")})["node"] is None
    [error] = api.errors(query, {"id": "not-an-id"})
    assert error["extensions"] == {"code": "validation", "field": "id", "rule": "global_id"}


def test_viewer(api: Api, token: Callable[..., str]) -> None:
    assert api("{ viewer { name role lists } }")["viewer"] == {
        "name": None, "role": "anonymous", "lists": None}
    secret = token("alice", "steward", ["admin-units"])
    assert api("{ viewer { name role lists } }", token=secret)["viewer"] == {
        "name": "alice", "role": "steward", "lists": ["admin-units"]}


def test_children_connection_pages(api: Api, world: dict[str, Any]) -> None:
    query = '''query($after: String) { administrativeUnit(code: "01", asOf: "2025-03-01") {
        children(first: 1, after: $after) { nodes { code children(first: 5) { nodes { code } } }
        pageInfo { hasNextPage endCursor } } } }'''
    first = api(query)["administrativeUnit"]["children"]
    assert first["nodes"] == [{"code": "001", "children": {"nodes": [
        {"code": "00001"}, {"code": "00004"}, {"code": "00013"}]}}]
    assert first["pageInfo"]["hasNextPage"] is True
    second = api(query, {"after": first["pageInfo"]["endCursor"]})["administrativeUnit"]
    assert second["children"]["nodes"] == [{"code": "002", "children": {"nodes": [
        {"code": "00037"}]}}]
    assert second["children"]["pageInfo"]["hasNextPage"] is False
