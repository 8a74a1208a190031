"""Who may do what in the web UI, over real HTTP: logging out ends the session on the server
(a copied cookie is worth nothing after), the sync ledger follows the API's rule, and a set
whose plan changed since approval is sent back rather than published."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from html import unescape

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session

from registry.models import WebSession
from registry.services import change_sets, queries, sync_ledger
from registry.services.actors import Actor
from registry.services.plan_fingerprint import RULE
from registry.services.sync_ledger import PositionReport
from registry.web.i18n import translate
from tests.factories import APPROVER, STEWARD, draft
from tests.web.conftest import AU, Client, Live

COOKIE = "registry_session"


def _with_cookie(live: Live, value: str) -> httpx.Client:
    client = httpx.Client(base_url=live.url, follow_redirects=False, timeout=30)
    client.cookies.set(COOKIE, value)
    return client


def _signed_in(http: httpx.Client) -> bool:
    """Whether the server treats this cookie as signed in: its pages offer to log out."""
    answer = http.get("/")
    assert answer.status_code == 200, answer.status_code
    return '/logout"' in answer.text


def test_a_copied_cookie_stops_working_at_logout(
        live: Live, client_for: Callable[[str], Client]) -> None:
    user = client_for(live.url)
    assert user.login(live.token("steward-logout", "steward")).status_code == 303
    copied = user.http.cookies[COOKIE]
    with _with_cookie(live, copied) as thief:
        assert _signed_in(thief)  # the copy works while the session lives
        assert user.post("/logout").status_code == 303
        assert not _signed_in(user.http)
        assert not _signed_in(thief)  # and not after logging out, though its signature holds
    with _with_cookie(live, copied) as later:
        assert not _signed_in(later)


def test_signing_in_again_ends_the_previous_session(
        live: Live, client_for: Callable[[str], Client]) -> None:
    user = client_for(live.url)
    secret = live.token("steward-again", "steward")
    assert user.login(secret).status_code == 303
    copied = user.http.cookies[COOKIE]
    assert user.login(secret).status_code == 303
    assert _signed_in(user.http)
    with _with_cookie(live, copied) as thief:
        assert not _signed_in(thief)


def test_logging_out_ends_one_session_only(live: Live,
                                           client_for: Callable[[str], Client]) -> None:
    secret = live.token("steward-two-sessions", "steward")
    office, home = client_for(live.url), client_for(live.url)
    assert office.login(secret).status_code == 303 and home.login(secret).status_code == 303
    assert office.post("/logout").status_code == 303
    assert not _signed_in(office.http)
    assert _signed_in(home.http)


def test_an_expired_session_is_anonymous(live: Live,
                                         client_for: Callable[[str], Client]) -> None:
    user = client_for(live.url)
    assert user.login(live.token("steward-expired", "steward")).status_code == 303
    assert _signed_in(user.http)
    past = datetime.now(UTC) - timedelta(seconds=1)
    live.write(lambda s: s.execute(update(WebSession).values(expires_at=past)))
    assert not _signed_in(user.http)


def test_the_ledger_page_follows_the_apis_rule(live: Live,
                                               client_for: Callable[[str], Client]) -> None:
    syncer = Actor("sync-rule", "sync")
    live.write(lambda s: sync_ledger.report_position(s, syncer, PositionReport(
        name="so-tttt-hue", epoch=None, seq=1, release=1, last_error="secret detail")))
    anonymous = client_for(live.url).http
    page = anonymous.get("/consumers")
    assert page.status_code in (302, 303) and "/login" in page.headers["location"]
    assert "so-tttt-hue" not in page.text
    assert anonymous.get("/sync/v1/ledger").status_code == 401
    reader = client_for(live.url)
    secret = live.token("reader-rule", "reader")
    assert reader.login(secret).status_code == 303
    shown = reader.http.get("/consumers")
    assert shown.status_code == 200 and "so-tttt-hue" in shown.text
    api = anonymous.get("/sync/v1/ledger", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    assert "so-tttt-hue" in {c["name"] for c in api.json()["consumers"]}
    sync_secret = live.token("sync-rule-token", "sync")
    refused = anonymous.get("/sync/v1/ledger",
                            headers={"Authorization": f"Bearer {sync_secret}"})
    assert refused.status_code == 403


def test_the_ledger_rule_itself() -> None:
    assert not sync_ledger.may_read(None)
    assert not sync_ledger.may_read(Actor("replica", "sync"))
    for role in ("reader", "steward", "approver", "admin"):
        assert sync_ledger.may_read(Actor(role, role))


def test_publishing_a_set_whose_plan_changed_sends_it_back(
        own_live: Callable[..., Live], client_for: Callable[[str], Client]) -> None:
    """Through the web UI's own transaction: the refusal rolls back, the send-back stays."""
    live = own_live()

    def approved(name: str) -> int:
        def make(session: Session) -> int:
            cs_id = draft(session, [{"op": "rename", "list": AU, "code": "31", "name": name}],
                          "2025-06-01")
            change_sets.submit(session, STEWARD, cs_id)
            change_sets.approve(session, APPROVER, cs_id)
            return cs_id
        return int(live.write(make))

    first, second = approved("Thành phố Hải Phòng Một"), approved("Thành phố Hải Phòng Hai")
    publisher = client_for(live.url)
    assert publisher.login(live.token("approver-web", "approver")).status_code == 303
    assert publisher.post(f"/change-sets/{first}/publish").status_code == 303
    refused = publisher.post(f"/change-sets/{second}/publish")
    assert refused.status_code == 409
    # The page says why in the reader's language, not the generic conflict.
    assert translate("vi", "err.conflict.plan_changed") in unescape(refused.text)
    assert live.read(lambda s: change_sets.get_change_set(s, second).status) == "submitted"
    journal = publisher.http.get(f"/change-sets/{second}").text
    assert "trả lại để duyệt lại" in journal and RULE in journal
    name = live.read(lambda s: queries.get_entry(s, AU, "31", date(2025, 6, 2)).name)
    assert name == "Thành phố Hải Phòng Một"
