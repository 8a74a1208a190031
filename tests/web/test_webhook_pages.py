"""The administrators' webhook console in Chromium: add (the secret shown once), see the
delivery log fill in, replay a dead letter, remove; other roles are refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from registry.db import session_factory
from registry.models import WebhookSubscription
from registry.services.webhooks.deliveries import RetryPolicy
from registry.webhooks.worker import WebhookWorker
from tests.factories import publish, unit
from tests.web.conftest import Client, Live, log_in, screenshot
from tests.webhooks.receiver import running_receiver


def _deliver(live: Live, policy: RetryPolicy) -> None:
    worker = WebhookWorker(session_factory(live.engine), policy, jobs=2)
    worker.run_once()
    worker.close()


def test_an_administrator_adds_watches_and_replays(live: Live, new_page: Callable[..., Any]
                                                   ) -> None:
    live.token("admin-wh", "admin")
    page = new_page()
    log_in(page, live, "admin-wh")
    with running_receiver(default=500) as receiver:
        page.click("nav >> text=Webhook")
        page.fill("#f-url", receiver.url())
        page.uncheck("input[value='changeset.status']")
        page.fill("#f-scope", "01")
        page.locator("main form button[type=submit]").click()
        secret = page.locator("#secret").inner_text()
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{44}", secret)
        sub = live.read(lambda s: s.scalar(select(func.max(WebhookSubscription.id))))
        live.write(lambda s: publish(s, [unit("00045", "Phường Mới Ba Đình", "Phường",
                                              "001")]))
        _deliver(live, RetryPolicy(window=0, timeout=1))  # refused, then dead at once
        page.goto(f"{live.url}/webhooks/{sub}")
        row = page.locator("main tbody tr").first
        assert "thất bại" in row.inner_text() and "500" in row.inner_text()
        screenshot(page, "webhooks")
        receiver.default = 200
        page.locator("main button", has_text="Gửi lại 1").click()
        assert "Đã xếp 1 lần gửi thất bại" in page.locator(".flash").inner_text()
        _deliver(live, RetryPolicy(timeout=1))
        page.reload()
        assert "đã nhận" in page.locator("main tbody tr").first.inner_text()
        [got] = receiver.accepted()
        assert got.json["data"]["lists"]["admin-units"]["codes"] == ["00045"]
    # The list shows it delivered; the page's secret is never shown again.
    page.goto(f"{live.url}/webhooks")
    assert secret not in page.content()
    page.goto(f"{live.url}/webhooks/{sub}")
    page.locator("main button", has_text="Gỡ đăng ký").click()
    assert f"Đã gỡ đăng ký {sub}" in page.locator(".flash").inner_text()
    assert live.read(lambda s: s.get(WebhookSubscription, sub).removed_at) is not None


def test_only_an_administrator_sees_or_changes_webhooks(
        live: Live, client_for: Callable[[str], Client]) -> None:
    steward = client_for(live.url)
    assert steward.login(live.secrets["steward-hn"]).status_code == 303
    assert "/webhooks" not in steward.http.get("/").text
    assert steward.http.get("/webhooks").status_code == 403
    before = live.read(lambda s: s.scalar(select(func.count()).select_from(
        WebhookSubscription)))
    refused = steward.post("/webhooks", {"url": "http://127.0.0.1:9/", "events":
                                         "release.published"})
    assert refused.status_code == 403
    assert steward.post("/webhooks/1/remove").status_code in (403, 404)
    anonymous = client_for(live.url)
    assert anonymous.http.get("/webhooks").status_code == 303  # to the login page
    assert live.read(lambda s: s.scalar(select(func.count()).select_from(
        WebhookSubscription))) == before
