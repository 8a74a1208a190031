"""End-to-end in a real browser (Debian's chromium, headless) against a real server.

Each test drives the pages as a steward or an approver would, then checks the database
through the services: what the browser shows and what the registry holds must agree.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import func, select

from registry.models import ChangeSet, Operation
from registry.services import change_sets, graph_reads
from registry.services.actors import Actor
from registry.services.change_sets import LegalBasis
from tests.web.conftest import AU, Live, log_in, screenshot

NQ_1656 = ("1656/NQ-UBTVQH15", "2025-06-16", "Ủy ban Thường vụ Quốc hội")


def field(scope: Any, label: str) -> Any:
    """The input labelled exactly ``label`` (a required field's label ends with "*")."""
    return scope.get_by_label(re.compile(rf"^{re.escape(label)}(\s*\*)?$"))


def _new_change_set(page: Any, live: Live, title: str, effective: str = "2025-07-01") -> int:
    page.goto(f"{live.url}/change-sets/new")
    field(page, "Tiêu đề").fill(title)
    field(page, "Số văn bản").fill(NQ_1656[0])
    field(page, "Ngày ban hành").fill(NQ_1656[1])
    field(page, "Cơ quan ban hành").fill(NQ_1656[2])
    field(page, "Ngày có hiệu lực").fill(effective)
    page.get_by_role("button", name="Tạo bản nháp").click()
    page.wait_for_url(f"{live.url}/change-sets/*")
    return int(page.url.rsplit("/", 1)[1].split("?")[0])


def test_search_as_you_type_finds_ha_noi_without_accents(live: Live, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{live.url}/lists/{AU}?as_of=2025-01-01")
    expect(page.locator("#results")).to_contain_text("Quận Ba Đình")
    # Slower than the 250 ms pause that sends a search: several requests overlap, and the
    # last one typed must win.
    page.locator("#q").press_sequentially("ha noi", delay=300)
    results = page.locator("#results tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Thành phố Hà Nội")
    # The results were swapped in place, and the address can be shared.
    expect(page).to_have_url(f"{live.url}/lists/{AU}?q=ha+noi&level=&type=&parent=&status="
                             "active&as_of=2025-01-01")
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("phuong hang", delay=20)
    expect(page.locator("#results")).to_contain_text("Phường Hàng Bạc")
    expect(page.locator("#results")).not_to_contain_text("Thành phố Hà Nội")
    screenshot(page, "list")


def test_steward_merges_approver_publishes_and_entry_shows_lineage(
        live: Live, new_page: Any) -> None:
    steward = new_page()
    log_in(steward, live, "steward-hn")
    cs_id = _new_change_set(steward, live, "Sắp xếp phường Trúc Bạch và Quán Thánh")
    steward.goto(f"{live.url}/change-sets/{cs_id}?add=merge#add")
    field(steward, "Mã mục nguồn 1").fill("00004")
    field(steward, "Mã mục nguồn 2").fill("00013")
    target = steward.locator("fieldset", has_text="Mục sau hợp nhất")
    field(target, "Mã").fill("00004")
    field(target, "Tên").fill("Phường Ba Đình")
    field(target, "Loại").select_option("Phường")
    field(target, "Trực thuộc").fill("001")
    field(target, "Tên ngắn").fill("Ba Đình")
    steward.get_by_role("button", name="Thêm thao tác").click()
    expect(steward.locator("main > p.flash[role=status]")).to_contain_text("Đã thêm thao tác")
    expect(steward.locator("#op-0")).to_contain_text("Hợp nhất 00004, 00013 thành 00004")
    steward.get_by_role("button", name="Gửi duyệt").click()
    expect(steward.locator("main > p.flash[role=status]")).to_contain_text("Đã gửi duyệt")
    assert live.read(lambda s: change_sets.get_change_set(s, cs_id).status) == "submitted"

    approver = new_page()
    log_in(approver, live, "approver-tw")
    approver.goto(f"{live.url}/change-sets/{cs_id}")
    diff = approver.locator("#op-0")
    expect(diff).to_contain_text("Phường Trúc Bạch")  # before
    expect(diff).to_contain_text("Phường Ba Đình")  # after
    expect(diff.locator(".change-retire")).to_contain_text("00013")
    expect(diff).to_contain_text("00013 → 00004")
    expect(approver.locator(".count-ok")).to_contain_text("Không có lỗi kiểm tra")
    screenshot(approver, "review")
    field(approver, "Ý kiến").fill("Đúng Nghị quyết 1656/NQ-UBTVQH15")
    approver.get_by_role("button", name="Phê duyệt").click()
    expect(approver.locator("main > p.flash[role=status]")).to_contain_text("Đã phê duyệt")
    approver.get_by_role("button", name="Phát hành").click()
    expect(approver.locator("main > p.flash[role=status]")).to_contain_text("Đã phát hành")
    cs = live.read(lambda s: change_sets.get_change_set(s, cs_id))
    assert (cs.status, cs.reviewer, cs.comment) == ("published", "approver-tw",
                                                     "Đúng Nghị quyết 1656/NQ-UBTVQH15")

    approver.goto(f"{live.url}/lists/{AU}/00004?as_of=2025-07-01")
    expect(approver.locator("h1")).to_contain_text("Phường Ba Đình")
    timeline = approver.locator(".timeline")
    expect(timeline).to_contain_text("Phường Trúc Bạch")
    expect(timeline).to_contain_text("Sắp xếp phường Trúc Bạch và Quán Thánh")
    expect(timeline).to_contain_text(f"#{cs.release_id}")
    picture = approver.locator("svg.lineage")
    expect(picture).to_contain_text("00013")
    expect(picture).to_contain_text("Phường Quán Thánh")
    expect(picture.locator(".edge-default")).to_have_count(1)
    screenshot(approver, "entry")
    # The old commune's page points forward to its successor, and the registry agrees.
    approver.goto(f"{live.url}/lists/{AU}/00013?as_of=2025-07-01")
    expect(approver.locator("svg.lineage")).to_contain_text("Phường Ba Đình")
    resolved = live.read(lambda s: graph_reads.resolve(s, AU, "00013", date(2025, 7, 1)))
    assert [x.entry.code for x in resolved.successors] == ["00004"]


def test_the_authors_approve_button_is_refused(live: Live, new_page: Any) -> None:
    page = new_page()
    log_in(page, live, "approver-author")
    cs_id = _new_change_set(page, live, "Đổi tên phường Phúc Tân")
    page.goto(f"{live.url}/change-sets/{cs_id}?add=rename#add")
    field(page, "Mã").fill("00037")
    field(page, "Tên mới").fill("Phường Phúc Tân mới")
    page.get_by_role("button", name="Thêm thao tác").click()
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(page.locator(".actions")).to_contain_text(
        "Bạn là người lập bộ thay đổi này; người khác phải phê duyệt.")
    page.get_by_role("button", name="Phê duyệt").click()
    expect(page.locator("#action-error")).to_contain_text("người thứ hai phải xem xét")
    cs = live.read(lambda s: change_sets.get_change_set(s, cs_id))
    assert (cs.status, cs.reviewer) == ("submitted", None)


def test_a_bad_code_shows_next_to_its_field_and_nothing_is_saved(
        live: Live, new_page: Any) -> None:
    page = new_page()
    log_in(page, live, "steward-hn")
    cs_id = _new_change_set(page, live, "Thành lập phường mới")
    page.goto(f"{live.url}/change-sets/{cs_id}?add=create#add")
    field(page, "Mã").fill("12AB")
    field(page, "Tên").fill("Phường Thử Nghiệm")
    field(page, "Loại").select_option("Phường")
    field(page, "Trực thuộc").fill("001")
    page.get_by_role("button", name="Thêm thao tác").click()
    code = page.locator("#f-code")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-code-err")).to_contain_text("Mã không đúng mẫu của danh mục")
    expect(page.locator("#f-code-err")).to_contain_text("12AB")
    expect(page.locator("#f-name")).to_have_value("Phường Thử Nghiệm")  # the form keeps input
    expect(page.locator("#form-error")).to_contain_text("Chưa lưu")
    saved = live.read(lambda s: s.scalar(select(func.count(Operation.id))
                                         .where(Operation.change_set_id == cs_id)))
    assert saved == 0
    assert live.read(lambda s: change_sets.get_change_set(s, cs_id).version) == 1


def test_a_forged_csrf_token_is_rejected(live: Live, new_page: Any) -> None:
    page = new_page()
    log_in(page, live, "steward-hn")
    before = live.read(lambda s: s.scalar(select(func.count(ChangeSet.id))))
    page.goto(f"{live.url}/change-sets/new")
    field(page, "Tiêu đề").fill("Giả mạo")
    field(page, "Số văn bản").fill("1/2025/GM")
    field(page, "Ngày ban hành").fill("2025-01-01")
    field(page, "Cơ quan ban hành").fill("Không ai")
    field(page, "Ngày có hiệu lực").fill("2025-07-01")
    page.locator("main input[name=csrf]").evaluate("el => el.value = 'forged-token'")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Tạo bản nháp").click()
    assert answer.value.status == 403
    expect(page.locator("main")).to_contain_text("Phiên làm việc đã hết hạn")
    assert live.read(lambda s: s.scalar(select(func.count(ChangeSet.id)))) == before


def test_a_script_in_a_name_is_shown_as_text(live: Live, new_page: Any) -> None:
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">Phường Độc'
    admin = Actor("web-test-admin", "admin")

    def publish(session: Any) -> None:
        basis = LegalBasis("99/2025/XSS", date(2025, 1, 1), "Kiểm thử")
        cs = change_sets.create_change_set(session, admin, "Tên có mã độc", basis,
                                           date(2025, 1, 1))
        change_sets.add_operations(session, admin, cs.id, [
            {"op": "create", "list": AU, "code": "00091", "name": evil, "type": "Phường",
             "parent": "002"}])
        change_sets.publish_direct(session, admin, cs.id)

    live.write(publish)
    page = new_page()
    page.goto(f"{live.url}/lists/{AU}/00091?as_of=2025-01-01")
    expect(page.locator("h1")).to_contain_text("<script>window.__pwned = 1</script>")
    page.goto(f"{live.url}/lists/{AU}?q=phuong+doc&as_of=2025-01-01")
    expect(page.locator("#results")).to_contain_text("<img src=x")
    page.goto(f"{live.url}/lists/{AU}/002?as_of=2025-01-01")  # the parent lists it as a child
    expect(page.locator("main")).to_contain_text("onerror=")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 0


def test_keyboard_labels_and_tablet_layout(live: Live, new_page: Any) -> None:
    page = new_page(820, 1180)  # a tablet held upright
    log_in(page, live, "steward-hn")
    cs_id = _new_change_set(page, live, "Kiểm tra khả năng tiếp cận")
    for query in ("add=create", "add=merge", "add=split"):
        page.goto(f"{live.url}/change-sets/{cs_id}?{query}")
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')].filter(
            e => !e.labels || e.labels.length === 0).map(e => e.name)""")
        assert unlabelled == []
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.goto(f"{live.url}/lists/{AU}?as_of=2025-01-01")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
