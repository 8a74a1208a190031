"""A province proposes, the centre reviews, in Chromium (issue: proposals from localities):
a proposer renames a ward of its province and is refused outside it; a central steward
comments on the operation and asks for changes; the proposer answers and amends; an
approver publishes; the proposer sees "published" and the release."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from registry.services import change_sets, comments
from tests.web.conftest import Live, log_in, screenshot
from tests.web.test_browser import _new_change_set, field


def _add_rename(page: Any, live: Live, cs_id: int, code: str, name: str) -> None:
    page.goto(f"{live.url}/change-sets/{cs_id}?add=rename#add")
    field(page, "Mã").fill(code)
    field(page, "Tên mới").fill(name)
    page.get_by_role("button", name="Thêm thao tác").click()


def test_a_province_proposes_and_the_centre_reviews(live: Live, new_page: Any) -> None:
    live.token("tinh-ha-noi", "proposer", scope="01")
    live.token("trung-uong", "steward")
    proposer = new_page()
    log_in(proposer, live, "tinh-ha-noi")
    cs_id = _new_change_set(proposer, live, "Đề xuất đổi tên phường Hàng Bạc")
    # Outside Hà Nội: refused, naming the rule; nothing added.
    _add_rename(proposer, live, cs_id, "31", "Thành phố Hải Phòng Mới")
    expect(proposer.locator("#action-error")).to_contain_text("Ngoài phạm vi được đề xuất")
    assert live.read(lambda s: change_sets.operation_payloads(s, cs_id)) == []
    _add_rename(proposer, live, cs_id, "00043", "Phường Hàng Bạc Mới")
    proposer.get_by_role("button", name="Gửi duyệt").click()
    expect(proposer.locator(".entry-head")).to_contain_text("chờ duyệt")

    central = new_page()
    log_in(central, live, "trung-uong")
    central.goto(f"{live.url}/change-sets?proposals=1")
    central.get_by_role("link", name="Đề xuất đổi tên phường Hàng Bạc").click()
    central.locator(".op-comments summary").first.click()
    central.locator(".op-comments textarea").fill("Tên mới có trong Nghị quyết không?")
    central.locator(".op-comments").get_by_role("button", name="Góp ý thao tác này").click()
    expect(central.locator(".op-comments .comment-body")).to_have_text(
        "Tên mới có trong Nghị quyết không?")
    central.locator("#request-comment").fill("Bổ sung số Nghị quyết của HĐND.")
    central.get_by_role("button", name="Yêu cầu sửa").click()
    expect(central.locator(".flash-ok")).to_contain_text("Đã trả lại để sửa")
    screenshot(central, "proposal-review")

    # The proposer sees the comments, answers on the operation, amends and resubmits.
    proposer.goto(f"{live.url}/change-sets?mine=1")
    expect(proposer.locator("tbody tr").first).to_contain_text("bản nháp")
    proposer.get_by_role("link", name="Đề xuất đổi tên phường Hàng Bạc").click()
    expect(proposer.locator("#discussion")).to_contain_text("Bổ sung số Nghị quyết")
    proposer.locator(".op-comments details.reply").first.locator("summary").click()
    proposer.locator(".op-comments .comment textarea").first.fill("Điều 3, Nghị quyết 12.")
    proposer.locator(".op-comments .comment").get_by_role("button", name="Trả lời").click()
    _add_rename(proposer, live, cs_id, "00046", "Phường Hàng Bồ Mới")
    proposer.get_by_role("button", name="Gửi duyệt").click()
    expect(proposer.locator(".entry-head")).to_contain_text("chờ duyệt")

    approver = new_page()
    log_in(approver, live, "approver-tw")
    approver.goto(f"{live.url}/change-sets/{cs_id}")
    approver.get_by_role("button", name="Phê duyệt").click()
    approver.get_by_role("button", name="Phát hành").click()
    expect(approver.locator(".entry-head")).to_contain_text("đã phát hành")

    proposer.goto(f"{live.url}/change-sets?mine=1")
    expect(proposer.locator("tbody tr").first).to_contain_text("đã phát hành")
    proposer.get_by_role("link", name="Đề xuất đổi tên phường Hàng Bạc").click()
    release = live.read(lambda s: change_sets.get_change_set(s, cs_id).release_id)
    expect(proposer.locator(".facts")).to_contain_text(f"{release}")
    threads = live.read(lambda s: comments.by_operation(comments.threads_of(s, cs_id)))
    [on_op] = [ts for key, ts in threads.items() if key is not None]
    assert [r.comment.body for r in on_op[0].replies] == ["Điều 3, Nghị quyết 12."]
    events = live.read(lambda s: [e.action for e in change_sets.events_of(s, cs_id)])
    assert events == ["create", "submit", "request_changes", "submit", "approve", "publish"]
