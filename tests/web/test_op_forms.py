"""The forms of every operation the change-set vocabulary has (update, reclassify, correct,
transfer, reorganize beside the first six): each adds its operation, and each error shows
next to the input that holds the value, as on the first forms (issue: a complete console)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from registry.services import change_sets
from tests.factories import publish
from tests.web.conftest import AU, Client, Live

CHANGE_SET = {"title": "Biểu mẫu", "legal_number": "9/2025/KT", "legal_date": "2025-06-01",
              "legal_issuer": "Ủy ban Thường vụ Quốc hội", "legal_url": "",
              "effective_date": "2025-07-01"}
AGENCY = "000.00.00.H99"
REORGANIZE = {"source_code_0": "00001", "source_code_1": "00004",
              "target_code_0": "00004", "target_name_0": "Phường Ba Đình Mới",
              "target_type_0": "Phường", "target_parent_0": "001",
              "target_code_1": "00996", "target_name_1": "Phường Liễu Giai Mới",
              "target_type_1": "Phường", "target_parent_1": "001",
              "link_from_0": "00001", "link_to_0": "00004", "link_kind_0": "whole",
              "link_from_1": "00004", "link_to_1": "00004", "link_kind_1": "part",
              "link_default_1": "1", "link_share_1": "0,5",
              "link_from_2": "00004", "link_to_2": "00996", "link_kind_2": "part",
              "link_share_2": "0.5"}
CASES: list[tuple[str, str, dict[str, str], str, dict[str, str], dict[str, Any]]] = [
    # kind, list, a bad form, the input its error shows at, a good form, what is stored
    ("update", "agencies", {"code": AGENCY, "attr_website": "ftp://bo.example"},
     "attr_website", {"code": AGENCY, "attr_website": "https://bo.example",
                      "attr_address": "12 Hàng Bạc"},
     {"attributes": {"website": "https://bo.example", "address": "12 Hàng Bạc"}}),
    ("reclassify", AU, {"code": "00043"}, "type", {"code": "00043", "type": "Thị trấn"},
     {"type": "Thị trấn"}),
    ("correct", AU, {"code": "00043", "new_code": "00043"}, "new_code",
     {"code": "00043", "name": "Phường Hàng Bạc (đính chính)"},
     {"name": "Phường Hàng Bạc (đính chính)"}),
    ("transfer", AU, {"from": "00037", "to": "00037"}, "to",
     {"from": "00037", "to": "00043", "share": "0,25"}, {"share": 0.25}),
    ("reorganize", AU, {**REORGANIZE, "link_to_2": "00997"}, "link_to_2", REORGANIZE,
     {"sources": ["00001", "00004"]}),
]


@pytest.fixture
def steward(live: Live, client_for: Callable[[str], Client]) -> Client:
    if AGENCY not in live.secrets:
        live.write(lambda s: publish(s, [{"op": "create", "list": "agencies", "code": AGENCY,
                                          "name": "Bộ Thử Nghiệm", "type": "Bộ"}]))
        live.secrets[AGENCY] = "published"
    client = client_for(live.url)
    assert client.login(live.token(f"forms-{len(live.secrets)}", "steward",
                                   [AU, "agencies"])).status_code == 303
    return client


@pytest.mark.parametrize(("kind", "list_key", "bad", "at", "good", "stored"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_form_adds_its_operation_or_shows_the_error_at_its_input(
        live: Live, steward: Client, kind: str, list_key: str, bad: dict[str, str], at: str,
        good: dict[str, str], stored: dict[str, Any]) -> None:
    created = steward.post("/change-sets", CHANGE_SET)
    detail = created.headers["location"]
    cs_id = int(detail.rsplit("/", 1)[1])
    page = steward.http.get(f"{detail}?add={kind}&list={list_key}")
    assert f'name="kind" value="{kind}"' in page.text
    for name in good:
        assert f'name="{name}"' in page.text, name  # the form has an input for each field
    refused = steward.post(f"{detail}/operations", {"kind": kind, "list": list_key, **bad},
                           csrf_from=detail)
    assert refused.status_code == 400
    error = re.search(rf'id="f-{at}-err"[^>]*>([^<]+)<', refused.text)
    assert error, f"{kind}: no error at {at}"
    assert live.read(lambda s: change_sets.operation_payloads(s, cs_id)) == []
    added = steward.post(f"{detail}/operations", {"kind": kind, "list": list_key, **good},
                         csrf_from=detail)
    assert added.status_code == 303, added.text[:3000]
    [payload] = live.read(lambda s: change_sets.operation_payloads(s, cs_id))
    assert {k: payload[k] for k in stored} == stored
    assert steward.post(f"{detail}/submit", {}, csrf_from=detail).status_code == 303
