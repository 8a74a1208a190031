"""Subsets: lists and a scope. Entries that move in or out of a scope are added to or
removed from scoped replicas, and every scoped release is proven by checksum (§9.8)."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from sqlalchemy import text

from registry.sync.client import ReleaseChanges, SyncClient
from registry.sync.errors import FeedIntegrityError
from registry.sync.local_store import LocalStore
from registry.sync.protocol import parse_subscription
from tests.factories import unit
from tests.sync.conftest import Centre, Targets, dump, forget_notifications
from tests.sync.proxy import Proxy, Reply


def codes_on(store: LocalStore, day: date) -> set[str]:
    """Codes a local application sees as valid on ``day``."""
    with store.engine.connect() as conn:
        return set(conn.scalars(text(
            "SELECT code FROM registry_versions WHERE valid_from <= :d "
            "AND (valid_to IS NULL OR valid_to > :d)"), {"d": day}))


def all_codes(store: LocalStore) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.scalars(text("SELECT code FROM registry_versions")))


def _two_provinces(centre: Centre) -> None:
    centre.publish([
        unit("01", "Thành phố Hà Nội", "Thành phố Trung ương"),
        unit("79", "Thành phố Hồ Chí Minh", "Thành phố Trung ương"),
        unit("001", "Quận Ba Đình", "Quận", "01"),
        unit("00001", "Phường Phúc Xá", "Phường", "001"),
        unit("00004", "Phường Trúc Bạch", "Phường", "001"),
        unit("00010", "Xã Thử Nghiệm", "Xã", "01"),
        unit("26734", "Phường Bến Nghé", "Phường", "79"),
    ])


def test_entries_moving_between_provinces_leave_one_replica_and_enter_the_other(
        centre: Centre, targets: Targets) -> None:
    _two_provinces(centre)
    seen_a: list[ReleaseChanges] = []
    seen_b: list[ReleaseChanges] = []
    a = SyncClient(centre.base, targets.new("sqlite"),
                   subscription=parse_subscription(None, "01"), on_release=seen_a.append)
    b = SyncClient(centre.base, targets.new("mariadb"),
                   subscription=parse_subscription("admin-units", "admin-units:79"),
                   on_release=seen_b.append)
    try:
        for client in (a, b):
            client.pull()
            assert client.verify().ok
        assert all_codes(a.store) == {"01", "001", "00001", "00004", "00010"}
        assert all_codes(b.store) == {"79", "26734"}
        with a.store.engine.connect() as conn:  # the other lists come whole
            assert conn.scalar(text("SELECT count(*) FROM registry_lists")) == 3
        with b.store.engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM registry_lists")) == 1

        # A commune moves from 01 to 79 on 1 July.
        centre.publish([{"op": "move", "list": "admin-units", "code": "00010", "parent": "79"}],
                       "2025-07-01")
        for client in (a, b):
            assert client.pull().releases == 1
            assert client.verify().ok
        july, june = date(2025, 7, 15), date(2025, 6, 30)
        assert "00010" not in codes_on(a.store, july) and "00010" in codes_on(a.store, june)
        assert "00010" in codes_on(b.store, july) and "00010" not in codes_on(b.store, june)
        assert [(v["code"], v["valid_from"]) for v in seen_b[-1].versions] == \
            [("00010", "2025-07-01")]

        # A district moves with its communes: rows the release never mentions move too.
        centre.publish([{"op": "move", "list": "admin-units", "code": "001", "parent": "79"}],
                       "2025-08-01")
        for client in (a, b):
            client.pull()
            assert client.verify().ok
        august = date(2025, 8, 15)
        assert {"001", "00001", "00004"} <= codes_on(b.store, august)
        assert {"00001", "00004"} <= {v["code"] for v in seen_b[-1].versions}
        # 01 keeps the district's history, and the communes' versions, which began under
        # 01 and go on under 79 (a version is kept whole: it overlaps the scope). On a day
        # after the move the district itself is not in 01's replica, so a walk up from a
        # commune shows it is no longer under 01.
        assert "001" not in codes_on(a.store, august) and "001" in codes_on(a.store, june)
        assert {"00001", "00004"} <= codes_on(a.store, august)

        # A correction: 00010 never moved. It leaves 79's replica and comes back to 01's.
        centre.publish([{"op": "correct", "list": "admin-units", "code": "00010",
                         "parent": "01"}], "2025-07-01")
        for client in (a, b):
            client.pull()
            assert client.verify().ok
        assert "00010" not in all_codes(b.store)
        assert seen_b[-1].removals == [{"t": "remove", "list": "admin-units", "code": "00010",
                                        "valid_from": "2025-07-01"}]
        assert "00010" in codes_on(a.store, july)
    finally:
        a.close()
        b.close()


def test_a_notification_replayed_after_a_crash_keeps_its_removals(
        sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    _two_provinces(centre)
    into = targets.new("sqlite")
    sub = parse_subscription("admin-units", "admin-units:79")
    client = SyncClient(centre.base, into, subscription=sub)
    client.pull()
    moved = centre.publish([{"op": "move", "list": "admin-units", "code": "00010",
                             "parent": "79"}], "2025-07-01")
    fixed = centre.publish([{"op": "correct", "list": "admin-units", "code": "00010",
                             "parent": "01"}], "2025-07-01")
    assert client.pull().releases == 2  # no hook: as if the process died before calling it
    client.close()
    forget_notifications(into, moved - 1)
    seen: list[ReleaseChanges] = []
    again = SyncClient(centre.base, into, subscription=sub, on_release=seen.append)
    try:
        assert again.pull().releases == 0
        assert [c.release for c in seen] == [moved, fixed]
        assert seen[1].removals == [{"t": "remove", "list": "admin-units", "code": "00010",
                                     "valid_from": "2025-07-01"}]
        assert seen[0].removals == []
    finally:
        again.close()


def test_a_tampered_scoped_delta_is_refused(sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    _two_provinces(centre)
    into = targets.new("sqlite")
    sub = parse_subscription(None, "79")
    first = SyncClient(centre.base, into, subscription=sub)
    first.pull()
    first.close()
    centre.publish([{"op": "rename", "list": "admin-units", "code": "26734",
                     "name": "Phường Sài Gòn"}], "2025-07-01")
    before = dump(into)
    proxy = Proxy(centre.base)

    def tamper(path: str, reply: Reply) -> Reply:
        if "/deltas/" not in path:
            return reply
        return Reply(reply.status, reply.headers,
                     reply.body.replace("Sài Gòn".encode(), "Sài Gòm".encode()))

    proxy.rewrite = tamper
    client = SyncClient(proxy.base, into, subscription=sub)
    with pytest.raises(FeedIntegrityError) as caught:
        client.pull()
    assert "do not match its digest" in caught.value.message
    assert dump(into) == before

    # A forger who also fixes the digest is caught by the checksum of the scoped list.
    def forge(path: str, reply: Reply) -> Reply:
        if "/deltas/" not in path:
            return reply
        head, _, body = reply.body.partition(b"\n")
        body = body.replace("Sài Gòn".encode(), "Sài Gòm".encode())
        header = json.loads(head)
        header["digest"] = hashlib.sha256(body).hexdigest()
        return Reply(reply.status, reply.headers,
                     json.dumps(header, ensure_ascii=False).encode() + b"\n" + body)

    proxy.rewrite = forge
    with pytest.raises(FeedIntegrityError) as caught:
        client.pull()
    assert "does not match the centre's checksum" in caught.value.message
    assert dump(into) == before
    client.close()
    proxy.close()


def test_a_subscription_to_some_lists_holds_only_them(sqlite_centre: Centre,
                                                      targets: Targets) -> None:
    centre = sqlite_centre
    _two_provinces(centre)
    into = targets.new("postgresql")
    client = SyncClient(centre.base, into, subscription=parse_subscription("admin-units", None))
    client.pull()
    centre.publish([{"op": "rename", "list": "admin-units", "code": "79",
                     "name": "Thành phố Hồ Chí Minh Mới"}], "2025-07-01")
    assert client.pull().releases == 1
    report = client.verify()
    assert report.ok and [r.list_key for r in report.lists] == ["admin-units"]
    # Changing the subscription takes a new snapshot instead of mixing two.
    wider = SyncClient(centre.base, into, subscription=parse_subscription(None, None))
    assert wider.pull().bootstrapped
    assert [r.list_key for r in wider.verify().lists] == ["admin-units", "agencies",
                                                          "procedures"]
    client.close()
    wider.close()
