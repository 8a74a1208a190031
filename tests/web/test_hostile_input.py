"""Hostile input to the web UI over HTTP: huge or odd numbers in every route that takes
one answer 404 (never 500), and hostile text in forms is refused in the reader's language
with nothing written."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from registry.models import ChangeSet
from registry.web.i18n import translator
from tests.web.conftest import AU, Client, Live

HUGE = ["99999999999999999999", "9223372036854775808", "9223372036854775807", "2147483648",
        "0", "00000000000000000000000001234567", "²", "١٢"]
NEW_CHANGE_SET = {"title": "Kiểm thử", "legal_number": "7/2025/KT", "legal_date": "2025-06-01",
                  "legal_issuer": "Bộ Nội vụ", "legal_url": "", "effective_date": "2025-07-01"}


def _steward(live: Live, client_for: Callable[[str], Client], name: str) -> Client:
    client = client_for(live.url)
    assert client.login(live.token(name, "steward", [AU])).status_code == 303
    return client


def _change_sets(live: Live) -> int:
    return int(live.read(lambda s: s.scalar(select(func.count(ChangeSet.id)))))


@pytest.mark.parametrize("number", HUGE)
def test_huge_and_odd_ids_in_pages_are_not_found(live: Live, number: str,
                                                 client_for: Callable[[str], Client]) -> None:
    client = client_for(live.url)
    page = client.http.get(f"/change-sets/{number}?lang=en")
    assert page.status_code in (400, 404), page.text
    assert "<html" in page.text
    for path in (f"/releases?before={number}", f"/lists/{AU}/{number}",
                 f"/lists/{AU}?first={number}", f"/change-sets/1?from={number}"):
        answer = client.http.get(path)
        assert answer.status_code in (200, 404), (path, answer.status_code)


@pytest.mark.parametrize("number", ["99999999999999999999", "9223372036854775808", "²"])
def test_huge_ids_in_posts_are_not_found(live: Live, number: str,
                                         client_for: Callable[[str], Client]) -> None:
    steward = _steward(live, client_for, f"steward-huge-{len(number)}")
    for action in ("submit", "withdraw", "approve", "reject", "publish", "operations",
                   "upload", f"upload/{'x' * 43}", "operations/1/remove"):
        answer = steward.post(f"/change-sets/{number}/{action}", {"version": number})
        assert answer.status_code in (400, 404), (action, answer.status_code)
    draft = steward.post("/change-sets", NEW_CHANGE_SET)
    assert draft.status_code == 303
    own = draft.headers["location"].rsplit("/", 1)[1]
    removed = steward.post(f"/change-sets/{own}/operations/{number}/remove", {"version": "1"})
    assert removed.status_code == 404
    stale = steward.post(f"/change-sets/{own}/submit", {"version": number})
    assert stale.status_code in (400, 409)


@pytest.mark.parametrize(("fields", "field", "rule"), [
    ({"title": "Sáp\x00nhập"}, "title", "control_character"),
    ({"legal_number": "7/2025\x1b[31m"}, "legal_basis.number", "control_character"),
    ({"legal_issuer": "Bộ\x85Nội vụ"}, "legal_basis.issuer", "control_character"),
    ({"legal_url": "javascript:alert(document.cookie)"}, "legal_basis.url", "url_scheme"),
    ({"legal_url": "data:text/html,<script>alert(1)</script>"}, "legal_basis.url",
     "url_scheme"),
])
def test_hostile_text_in_a_form_is_refused_in_the_readers_language(
        live: Live, client_for: Callable[[str], Client], fields: dict[str, str], field: str,
        rule: str) -> None:
    steward = _steward(live, client_for, f"steward-text-{field}-{len(str(fields))}")
    before = _change_sets(live)
    for lang in ("vi", "en"):
        data = {**NEW_CHANGE_SET, **fields, "csrf": steward.csrf("/")}
        page = steward.http.post(f"/change-sets?lang={lang}", content=urlencode(data),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert page.status_code == 400, page.text
        assert translator(lang)(f"rule.{rule}") in unescape(page.text)
    assert _change_sets(live) == before
