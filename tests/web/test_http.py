"""The web UI over plain HTTP against a real server: pages, roles, sessions, uploads, attacks.

Cheaper than the browser tests, so the many small cases live here; each test uses codes
and tokens of its own on the shared server, or a server of its own when it changes the
configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import func, select

from registry.models import ChangeSet, Operation
from registry.services import change_sets, sync_ledger, tokens
from registry.services.actors import SYSTEM, Actor
from registry.services.change_sets import LegalBasis
from registry.services.feed import read_head
from registry.services.sync_ledger import PositionReport
from tests.web.conftest import AU, Client, Live

NEW_CHANGE_SET = {"title": "Kiểm thử", "legal_number": "7/2025/KT", "legal_date": "2025-06-01",
                  "legal_issuer": "Ủy ban Thường vụ Quốc hội", "legal_url": "",
                  "effective_date": "2025-07-01"}


def _count(live: Live, model: Any, *where: Any) -> int:
    return int(live.read(lambda s: s.scalar(select(func.count(model.id)).where(*where))))


def _draft(client: Client, **fields: str) -> int:
    answer = client.post("/change-sets", {**NEW_CHANGE_SET, **fields})
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


def _logged_in(live: Live, client_for: Callable[[str], Client], name: str, role: str,
               lists: list[str] | None = None) -> Client:
    client = client_for(live.url)
    assert client.login(live.token(name, role, lists)).status_code == 303
    return client


def test_the_other_interfaces_keep_their_routes(live: Live,
                                                client_for: Callable[[str], Client]) -> None:
    http = client_for(live.url).http
    assert http.get("/healthz").json()["status"] == "ok"
    assert http.get("/metrics").status_code == 200
    graphql = http.post("/graphql", json={"query": "{ __typename }"})
    assert graphql.json() == {"data": {"__typename": "Query"}}
    missing = http.get("/sync/v1/no-such-thing")
    assert missing.status_code == 404 and "text/html" not in missing.headers["content-type"]
    page = http.get("/no-such-page")
    assert page.status_code == 404 and "Không tìm thấy" in page.text


def test_vietnamese_by_default_english_on_request(live: Live,
                                                  client_for: Callable[[str], Client]) -> None:
    http = client_for(live.url).http
    home = http.get("/")
    assert '<html lang="vi">' in home.text and "Các danh mục" in home.text
    english = http.get("/?lang=en")
    assert '<html lang="en">' in english.text and "Code lists" in english.text
    assert "lang=en" in english.headers["set-cookie"]
    assert "Releases" in http.get("/releases").text
    assert '<html lang="en">' in http.get("/").text  # the cookie remembers the choice
    assert '<html lang="vi">' in http.get("/?lang=vi").text


def test_pages_carry_protective_headers(live: Live, client_for: Callable[[str], Client]) -> None:
    page = client_for(live.url).http.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    cookie = page.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


def test_home_lists_counts_releases_and_pending(live: Live,
                                                client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-home", "steward", [AU])
    cs_id = _draft(steward, title="Đang chờ duyệt trên trang chủ")
    steward.post(f"/change-sets/{cs_id}/operations", {
        "kind": "rename", "list": AU, "code": "00067", "name": "Phường Chương Dương Độ"})
    assert steward.post(f"/change-sets/{cs_id}/submit").status_code == 303
    home = client_for(live.url).http.get("/").text
    assert "Danh mục đơn vị hành chính Việt Nam" in home
    assert "Đơn vị hành chính mẫu (Hà Nội)" in home  # the seed's release
    assert f"#{cs_id} Đang chờ duyệt trên trang chủ" in home


def test_entry_page_on_any_date(live: Live, client_for: Callable[[str], Client]) -> None:
    http = client_for(live.url).http
    before = http.get(f"/lists/{AU}/00001?as_of=2024-12-31")
    assert before.status_code == 200
    assert "không có phiên bản nào hiệu lực vào ngày 31/12/2024" in before.text
    on = http.get(f"/lists/{AU}/00001?as_of=2025-01-01").text
    assert "Trạng thái tại ngày 01/01/2025" in on and "Phường Phúc Xá" in on
    assert "124/2004/QĐ-TTg" in on  # the legal basis in the history
    district = http.get(f"/lists/{AU}/002?as_of=2025-01-01").text
    assert "Phường Hàng Bạc" in district  # children
    assert http.get(f"/lists/{AU}/99999").status_code == 404
    assert "Ngày không hợp lệ" in http.get(f"/lists/{AU}/00001?as_of=31-12-2024").text


def test_list_filters_and_pages(live: Live, client_for: Callable[[str], Client]) -> None:
    http = client_for(live.url).http
    provinces = http.get(f"/lists/{AU}", params={"level": "province", "as_of": "2025-01-01"})
    assert "Thành phố Hồ Chí Minh" in provinces.text and "Quận Ba Đình" not in provinces.text
    children = http.get(f"/lists/{AU}", params={"parent": "002", "as_of": "2025-01-01"}).text
    assert "Phường Hàng Bạc" in children and "Phường Phúc Xá" not in children
    partial = http.get(f"/lists/{AU}", params={"q": "HÀ NỘI", "as_of": "2025-01-01"},
                       headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "Thành phố Hà Nội" in partial.text
    seen: list[str] = []
    url: str | None = f"/lists/{AU}?as_of=2025-01-01&type=Phường&first=10"
    while url:
        page = http.get(url).text
        seen += re.findall(r"<td><code>(\d+)</code></td>", page)
        found = re.search(r'rel="next" href="([^"]+)"', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == len(set(seen)) >= 30 and seen == sorted(seen)
    assert "00088" in seen and "00001" in seen
    bad = http.get(f"/lists/{AU}", params={"after": "not-a-cursor"})
    assert bad.status_code == 200 and "Vị trí trang không do máy chủ này cấp" in bad.text


def test_reads_need_a_login_when_anonymous_read_is_off(
        own_live: Callable[..., Live], client_for: Callable[[str], Client]) -> None:
    live = own_live(anonymous_read=False)
    client = client_for(live.url)
    refused = client.http.get(f"/lists/{AU}")
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/login?next=%2Flists%2F{AU}"
    assert client.http.get("/login").status_code == 200
    assert client.login(live.token("reader-closed", "reader")).status_code == 303
    assert "Quận Ba Đình" in client.http.get(f"/lists/{AU}?as_of=2025-01-01").text


def test_a_post_without_the_session_token_changes_nothing(
        live: Live, client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-csrf", "steward", [AU])
    before = _count(live, ChangeSet)
    for token in ("", "forged", steward.csrf() + "x"):
        answer = steward.http.post("/change-sets", data={**NEW_CHANGE_SET, "csrf": token})
        assert answer.status_code == 403
    stranger = client_for(live.url).http  # a cross-site form: no session, no token
    assert stranger.post("/login", data={"token": "rgt_x"}).status_code == 403
    assert _count(live, ChangeSet) == before


def test_login_refuses_bad_and_sync_tokens(live: Live,
                                           client_for: Callable[[str], Client]) -> None:
    client = client_for(live.url)
    bad = client.login("rgt_not-a-token")
    assert bad.status_code == 401 and "không đúng hoặc đã bị thu hồi" in bad.text
    assert client.login(live.token("sync-web", "sync")).status_code == 401


def test_revoking_a_token_ends_its_sessions(live: Live,
                                            client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-revoked", "steward", [AU])
    assert steward.http.get("/change-sets/new").status_code == 200
    live.write(lambda s: tokens.revoke_token(s, SYSTEM, "steward-revoked"))
    page = steward.http.get("/change-sets/new")
    assert page.status_code == 403 and "steward-revoked" not in page.text


def test_roles_are_enforced_as_in_the_api(live: Live,
                                          client_for: Callable[[str], Client]) -> None:
    reader = _logged_in(live, client_for, "reader-roles", "reader")
    assert reader.http.get("/change-sets/new").status_code == 403
    before = _count(live, ChangeSet)
    assert reader.post("/change-sets", NEW_CHANGE_SET).status_code == 403
    assert _count(live, ChangeSet) == before
    steward = _logged_in(live, client_for, "steward-au-only", "steward", [AU])
    cs_id = _draft(steward)
    refused = steward.post(f"/change-sets/{cs_id}/operations", {
        "kind": "retire", "list": "agencies", "code": "000.00.00.G01"})
    assert refused.status_code == 403
    assert "Bạn không được sửa danh mục này" in refused.text
    other = _logged_in(live, client_for, "steward-other", "steward", [AU])
    assert other.post(f"/change-sets/{cs_id}/operations", {
        "kind": "retire", "list": AU, "code": "00070"}).status_code == 403
    assert other.post(f"/change-sets/{cs_id}/submit").status_code == 403
    assert _count(live, Operation, Operation.change_set_id == cs_id) == 0


def test_every_operation_form_reaches_the_service(
        live: Live, client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-forms", "steward", [AU])
    cs_id = _draft(steward, effective_date="2025-03-01")
    forms: list[dict[str, str]] = [
        {"kind": "create", "code": "00093", "name": "Phường Mới", "type": "Phường",
         "parent": "002", "short_name": "Mới"},
        {"kind": "rename", "code": "00046", "name": "Phường Hàng Buồm Mới"},
        {"kind": "move", "code": "00049", "parent": "001"},
        {"kind": "retire", "code": "00052"},
        {"kind": "split", "source": "00055", "target_code_0": "00094", "target_name_0":
         "Phường Cửa Đông A", "target_type_0": "Phường", "target_parent_0": "002",
         "target_share_0": "0,6", "target_code_1": "00095", "target_name_1":
         "Phường Cửa Đông B", "target_type_1": "Phường", "target_parent_1": "002",
         "default_target": "1"},
        {"kind": "merge", "source_code_0": "00058", "source_code_1": "00061",
         "source_kind_1": "part", "target_code": "00058", "target_name": "Phường Lý Thái Tổ",
         "target_type": "Phường", "target_parent": "002"},
    ]
    for form in forms:
        answer = steward.post(f"/change-sets/{cs_id}/operations", {"list": AU, **form})
        assert answer.status_code == 303, re.findall(r'field-error"[^>]*>([^<]+)', answer.text)
    ops = live.read(lambda s: change_sets.operation_payloads(s, cs_id))
    assert [op["op"] for op in ops] == ["create", "rename", "move", "retire", "split", "merge"]
    split = ops[4]
    assert [(t["code"], t["default"], t["share"]) for t in split["targets"]] == [
        ("00094", False, 0.6), ("00095", True, None)]
    assert [(s["code"], s["kind"]) for s in ops[5]["sources"]] == [("00058", "whole"),
                                                                    ("00061", "part")]
    page = steward.http.get(f"/change-sets/{cs_id}").text
    assert "Chia tách 00055 thành 00094 Phường Cửa Đông A, 00095 Phường Cửa Đông B" in page
    assert steward.post(f"/change-sets/{cs_id}/submit").status_code == 303


def test_errors_are_placed_on_their_inputs(live: Live,
                                           client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-errors", "steward", [AU])
    cs_id = _draft(steward)
    split = steward.post(f"/change-sets/{cs_id}/operations", {
        "list": AU, "kind": "split", "source": "00064", "target_code_0": "00096",
        "target_name_0": "Phường Gai A", "target_type_0": "Phường", "target_parent_0": "002",
        "target_code_1": "00043", "target_name_1": "Phường Gai B", "target_type_1": "Phường",
        "target_parent_1": "002", "default_target": "0"})
    assert split.status_code == 400
    assert re.search(r'id="f-target_code_1"[^>]*aria-invalid="true"', split.text)
    assert 'id="f-target_code_1-err"' in split.text and "Mã đã tồn tại: 00043" in split.text
    assert 'value="Phường Gai B"' in split.text  # the steward's input is kept
    created = steward.post("/change-sets", {**NEW_CHANGE_SET, "legal_number": "",
                                            "effective_date": "01/07/2025"})
    assert created.status_code == 400
    assert 'id="f-legal_number-err"' in created.text and 'id="f-effective_date-err"' in created.text
    assert _count(live, Operation, Operation.change_set_id == cs_id) == 0


def test_an_upload_is_previewed_before_anything_is_saved(
        live: Live, client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-upload", "steward", [AU])
    cs_id = _draft(steward, effective_date="2025-04-01")
    csv = ("code,name,type,parent\n"
           "00073,Phường Cửa Nam Mới,Phường,002\n"
           "00097,Phường Hồ Gươm,Phường,002\n").encode()
    preview = steward.post(f"/change-sets/{cs_id}/upload", {"layout": "csv", "list": AU},
                           files={"file": ("hoan-kiem.csv", csv, "text/csv")})
    assert preview.status_code == 200, preview.text
    assert "2 thao tác sẽ được thêm" in preview.text and "Phường Hồ Gươm" in preview.text
    assert "Chưa có gì được lưu" in preview.text
    assert _count(live, Operation, Operation.change_set_id == cs_id) == 0
    action = re.search(r'action="(/change-sets/\d+/upload/[^"]+)"', preview.text)
    assert action is not None
    assert steward.post(action.group(1), {"version": "1"}).status_code == 303
    ops = live.read(lambda s: change_sets.operation_payloads(s, cs_id))
    assert sorted(op["op"] for op in ops) == ["create", "rename"]
    again = steward.post(action.group(1), {"version": "2"})  # the staged file is gone
    assert again.status_code == 303 and _count(live, Operation,
                                               Operation.change_set_id == cs_id) == 2


def test_a_bad_upload_names_its_problem_and_stages_nothing(
        live: Live, client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-bad-upload", "steward", [AU])
    cs_id = _draft(steward)
    wrong = steward.post(f"/change-sets/{cs_id}/upload", {"layout": "gso"},
                         files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")})
    assert wrong.status_code == 400 and "Tổng cục Thống kê" in wrong.text
    bad_rows = steward.post(f"/change-sets/{cs_id}/upload", {"layout": "csv", "list": AU},
                            files={"file": ("x.csv", b"code,name,type\n12AB,X,Phuong\n",
                                            "text/csv")})
    assert bad_rows.status_code == 200 and "x.csv:2" in bad_rows.text
    assert "save-upload-btn" not in bad_rows.text
    assert _count(live, Operation, Operation.change_set_id == cs_id) == 0


def test_names_are_escaped_in_the_html(live: Live, client_for: Callable[[str], Client]) -> None:
    evil = "<script>alert(1)</script>Phường <b>Đậm</b>"
    admin = Actor("web-escape-admin", "admin")

    def publish(session: Any) -> None:
        basis = LegalBasis("98/2025/XSS", date(2025, 1, 1), "Kiểm thử <i>in nghiêng</i>")
        cs = change_sets.create_change_set(session, admin, "<script>x()</script>", basis,
                                           date(2025, 1, 1))
        change_sets.add_operations(session, admin, cs.id, [
            {"op": "create", "list": AU, "code": "00092", "name": evil, "type": "Phường",
             "parent": "002"}])
        change_sets.publish_direct(session, admin, cs.id)

    live.write(publish)
    http = client_for(live.url).http
    for path in (f"/lists/{AU}/00092?as_of=2025-01-01", f"/lists/{AU}?q=dam&as_of=2025-01-01",
                 "/releases", "/change-sets"):
        body = http.get(path).text
        assert "<script>alert" not in body and "<script>x()" not in body and "<b>Đậm" not in body
        assert "&lt;script&gt;" in body


def test_the_sync_page_flags_replicas_behind(live: Live,
                                             client_for: Callable[[str], Client]) -> None:
    syncer = Actor("sync-bot", "sync")
    live.write(lambda s: sync_ledger.report_position(s, syncer, PositionReport(
        name="ubnd-ha-noi", epoch=None, seq=1, release=1, last_error="timeout")))
    reader = _logged_in(live, client_for, "reader-consumers", "reader")  # not anonymous
    page = reader.http.get("/consumers").text
    row = page[page.index("ubnd-ha-noi"):]
    assert "cần tải lại ảnh chụp" in row[:2000]  # another epoch: must re-snapshot
    head = live.read(read_head)
    live.write(lambda s: sync_ledger.report_position(s, syncer, PositionReport(
        name="so-tttt-da-nang", epoch=head.epoch, seq=1, release=1)))
    page = reader.http.get("/consumers").text
    behind = page[page.index("so-tttt-da-nang"):]
    assert "chậm" in behind[:2000] and f"{head.release - 1} bản phát hành" in behind[:2000]


def test_reject_needs_a_reason_and_keeps_it(live: Live,
                                            client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-reject", "steward", [AU])
    cs_id = _draft(steward, title="Sẽ bị từ chối")
    steward.post(f"/change-sets/{cs_id}/operations", {
        "kind": "rename", "list": AU, "code": "00079", "name": "Phường Tràng Tiền Mới"})
    steward.post(f"/change-sets/{cs_id}/submit", {"version": "2"})
    approver = _logged_in(live, client_for, "approver-reject", "approver")
    empty = approver.post(f"/change-sets/{cs_id}/reject", {"comment": " ", "version": "3"})
    assert empty.status_code == 400 and "Từ chối cần nêu lý do" in empty.text
    stale = approver.post(f"/change-sets/{cs_id}/reject", {"comment": "Sai tên", "version": "2"})
    assert stale.status_code == 409  # someone else's newer version wins, nothing changes
    done = approver.post(f"/change-sets/{cs_id}/reject", {"comment": "Sai tên", "version": "3"})
    assert done.status_code == 303
    cs = live.read(lambda s: change_sets.get_change_set(s, cs_id))
    assert (cs.status, cs.reviewer, cs.comment) == ("rejected", "approver-reject", "Sai tên")
    page = approver.http.get(f"/change-sets/{cs_id}").text
    assert "bị từ chối" in page and "Sai tên" in page and 'id="approve-btn"' not in page


def test_the_author_withdraws_and_removes_operations(
        live: Live, client_for: Callable[[str], Client]) -> None:
    steward = _logged_in(live, client_for, "steward-withdraw", "steward", [AU])
    cs_id = _draft(steward)
    steward.post(f"/change-sets/{cs_id}/operations", {
        "kind": "retire", "list": AU, "code": "00082"})
    (op_id,) = live.read(lambda s: [op.id for op in change_sets.operations_of(s, cs_id)])
    assert steward.post(f"/change-sets/{cs_id}/operations/{op_id}/remove").status_code == 303
    assert _count(live, Operation, Operation.change_set_id == cs_id) == 0
    assert steward.post(f"/change-sets/{cs_id}/withdraw").status_code == 303
    assert live.read(lambda s: change_sets.get_change_set(s, cs_id).status) == "withdrawn"
