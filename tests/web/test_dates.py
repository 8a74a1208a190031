"""Dates in the web UI are YYYY-MM-DD and nothing else, as on the command line."""

from __future__ import annotations

from collections.abc import Callable

from registry.web.i18n import translate
from tests.web.conftest import AU, Client, Live
from tests.web.test_languages import CHANGE_SET, alerts


def test_a_compact_date_in_the_address_is_refused_and_today_shown(
        live: Live, client_for: Callable[[str], Client]) -> None:
    client = client_for(live.url)
    client.http.cookies.set("lang", "en")
    page = client.http.get(f"/lists/{AU}?as_of=20250701")
    assert page.status_code == 200
    assert translate("en", "error.bad_date") in " ".join(alerts(page))
    assert alerts(client.http.get(f"/lists/{AU}?as_of=2025-07-01")) == []


def test_a_compact_effective_date_is_refused_and_no_change_set_made(
        live: Live, client_for: Callable[[str], Client]) -> None:
    steward = client_for(live.url)
    steward.http.cookies.set("lang", "en")
    assert steward.login(live.token("steward-dates", "steward", [AU])).status_code == 303
    before = steward.http.get("/change-sets").text.count("/change-sets/")
    answer = steward.post("/change-sets", {**CHANGE_SET, "effective_date": "20250701"})
    assert answer.status_code != 303
    found = " ".join(alerts(answer))
    assert "20250701" in found and "YYYY-MM-DD" in found, found
    assert steward.http.get("/change-sets").text.count("/change-sets/") == before
