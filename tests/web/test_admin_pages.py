"""The administrators' token and audit pages: a token created in the browser (shown once)
logs in; revoked, it no longer does; refusals name the field in the page's language; the
audit lists who did what; other roles are refused (issue: a complete console)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from registry.models import ApiToken
from tests.web.conftest import Client, Live, log_in


def test_an_administrator_issues_and_revokes_a_proposer_token(
        live: Live, new_page: Callable[..., Any], client_for: Callable[[str], Client]) -> None:
    live.token("admin-tokens", "admin")
    page = new_page()
    log_in(page, live, "admin-tokens")
    page.click("nav >> text=Mã truy cập")
    page.fill("#f-name", "ubnd-tinh-48")
    page.select_option("#f-role", "proposer")
    page.fill("#f-scope", "48")
    page.get_by_role("button", name="Tạo mã").click()
    secret = page.locator("#secret").inner_text()
    assert re.fullmatch(r"rgt_[A-Za-z0-9_-]{43}", secret)
    assert "admin-units:48" in page.locator("main").inner_text()
    # The holder logs in with it as a proposer.
    holder = client_for(live.url)
    assert holder.login(secret).status_code == 303
    assert "địa phương đề xuất" in holder.http.get("/").text
    # Revoked from the list: the next login fails.
    page.goto(f"{live.url}/tokens")
    page.get_by_role("button", name="Thu hồi ubnd-tinh-48").click()
    assert "Đã thu hồi mã ubnd-tinh-48" in page.locator(".flash").inner_text()
    assert client_for(live.url).login(secret).status_code != 303
    # The audit page shows the journal, filterable by actor.
    page.goto(f"{live.url}/audit")
    assert page.locator("main tbody tr").count() >= 1
    first_actor = page.locator("main tbody tr td:nth-child(2) a").first.inner_text()
    page.locator("main tbody tr td:nth-child(2) a").first.click()
    page.wait_for_url(f"{live.url}/audit?actor=*")
    actors = set(page.locator("main tbody tr td:nth-child(2)").all_inner_texts())
    assert actors == {first_actor}


def test_token_form_refusals_and_other_roles(live: Live,
                                             client_for: Callable[[str], Client]) -> None:
    admin = client_for(live.url)
    assert admin.login(live.token("admin-tokens-2", "admin")).status_code == 303
    count = live.read(lambda s: s.scalar(select(func.count()).select_from(ApiToken)))
    for form, at in (({"name": "a b", "role": "reader"}, "name"),
                     ({"name": "x1", "role": "emperor"}, "role"),
                     ({"name": "x2", "role": "proposer"}, "scope"),
                     ({"name": "x3", "role": "proposer", "scope": "99"}, "scope"),
                     ({"name": "x4", "role": "steward", "scope": "01"}, "scope"),
                     ({"name": "admin-tokens-2", "role": "reader"}, "name")):
        refused = admin.post("/tokens", form, csrf_from="/tokens")
        assert refused.status_code in (400, 409), (form, refused.status_code)
        assert re.search(rf'id="f-{at}-err"', refused.text), form
        assert "secret" not in refused.text
    assert live.read(lambda s: s.scalar(select(func.count()).select_from(ApiToken))) == count
    steward = client_for(live.url)
    assert steward.login(live.secrets["steward-hn"]).status_code == 303
    for path in ("/tokens", "/audit"):
        assert steward.http.get(path).status_code == 403
    assert steward.post("/tokens", {"name": "sneaky", "role": "admin"}).status_code == 403
    assert steward.post("/tokens/steward-hn/revoke").status_code == 403
    assert client_for(live.url).http.get("/tokens").status_code == 303  # to the login page
    assert live.read(lambda s: s.scalar(select(func.count()).select_from(ApiToken))) == count
