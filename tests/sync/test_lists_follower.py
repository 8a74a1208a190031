"""A replica of some lists follows deltas: it downloads only its lists' records, and each
release is proven by the checksums of the lists it touches, computed from the rows it
touched (registry.sync.delta_check)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from registry.sync.client import SyncClient
from registry.sync.codec import decode_header, decode_records, encode_page
from registry.sync.errors import FeedIntegrityError
from registry.sync.protocol import parse_subscription
from tests.factories import unit
from tests.sync.conftest import Centre, Targets, dump
from tests.sync.proxy import Proxy, Reply

ADMIN_UNITS = parse_subscription("admin-units", None)


def _agency(code: str, name: str) -> dict[str, Any]:
    return {"op": "create", "list": "agencies", "code": code, "name": name, "type": "Bộ"}


def _seed(centre: Centre) -> None:
    centre.publish([
        unit("01", "Thành phố Hà Nội", "Thành phố Trung ương"),
        unit("79", "Thành phố Hồ Chí Minh", "Thành phố Trung ương"),
        unit("001", "Quận Ba Đình", "Quận", "01"),
        unit("00001", "Phường Phúc Xá", "Phường", "001"),
    ])


def _head(centre: Centre) -> dict[str, Any]:
    return dict(httpx.get(f"{centre.base}/sync/v1/head").json())


def _at_head_with_admin_units_proven(client: SyncClient, centre: Centre) -> None:
    """The replica is at the centre's head, and proved equal to it on its one list."""
    assert client.store.state().release == _head(centre)["release"]
    report = client.verify()
    assert report.ok and [r.list_key for r in report.lists] == ["admin-units"]


def _page(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    header, rows = decode_header(body, "test", check=False)
    return header, list(decode_records(header, rows, "test"))


def _records(body: bytes) -> list[dict[str, Any]]:
    return _page(body)[1]


def _rewritten(reply: Reply, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
               header_change: Callable[[dict[str, Any]], None] = lambda header: None) -> Reply:
    """``reply`` with its records changed by ``change``, encoded again with a digest that
    fits, as a forger who controls the connection would."""
    header, records = _page(reply.body)
    for key in ("schemas", "count", "digest"):
        del header[key]
    header_change(header)
    return Reply(reply.status, reply.headers, encode_page(header, change(records)))


def _one_release_behind(centre: Centre, targets: Targets, backend: str,
                        ops: list[dict[str, Any]]) -> tuple[str, Any]:
    """A replica of admin-units bootstrapped on the seed, then ``ops`` published: the
    replica's URL and its rows as they are before it pulls them."""
    _seed(centre)
    into = targets.new(backend)
    first = SyncClient(centre.base, into, subscription=ADMIN_UNITS)
    first.pull()
    first.close()
    centre.publish(ops, "2025-07-01")
    return into, dump(into)


def _refused(proxy: Proxy, into: str, before: Any) -> str:
    """Pull through ``proxy`` expecting the checksum to refuse the delta with nothing
    written; the refusal's message."""
    client = SyncClient(proxy.base, into, subscription=ADMIN_UNITS)
    try:
        with pytest.raises(FeedIntegrityError) as caught:
            client.pull()
        assert "does not match the centre's checksum" in caught.value.message
        assert dump(into) == before
        return caught.value.message
    finally:
        client.close()


def test_a_follower_of_one_list_downloads_only_that_lists_records(
        centre: Centre, targets: Targets) -> None:
    _seed(centre)
    into = targets.new("sqlite")
    proxy = Proxy(centre.base)
    seen: dict[str, bytes] = {}

    def record(path: str, reply: Reply) -> Reply:
        seen[path] = reply.body
        return reply

    proxy.rewrite = record
    client = SyncClient(proxy.base, into, subscription=ADMIN_UNITS)
    try:
        client.pull()
        centre.publish([_agency(f"000.00.00.G{n:02d}", f"Bộ thử nghiệm {n}")
                        for n in range(1, 31)])
        centre.publish([{"op": "rename", "list": "admin-units", "code": "79",
                         "name": "Thành phố Hồ Chí Minh Mới"}], "2025-07-01")
        seen.clear()
        # The agencies' release changes nothing subscribed: it is skipped, not downloaded.
        assert client.pull().releases == 1
        assert client.store.state().release == _head(centre)["release"]
        assert not any("/changes/" in path for path in seen), "no chained change pages"
        deltas = [_records(body) for path, body in seen.items() if "/deltas/" in path]
        assert len(deltas) == 1
        assert {r.get("list") for r in deltas[0] if r.get("t") != "release"} == {"admin-units"}
        # A follower at the head of its lists asks once more and moves its cursor.
        centre.publish([_agency("000.00.00.G99", "Bộ cuối")])
        seen.clear()
        assert client.pull().releases == 1
        (only,) = [_page(body) for path, body in seen.items() if "/deltas/" in path]
        assert [r["t"] for r in only[1]] == ["release"] and only[0]["checksums"] == {}
        _at_head_with_admin_units_proven(client, centre)
    finally:
        client.close()
        proxy.close()


def test_a_delta_that_leaves_out_a_change_is_refused(centre: Centre,
                                                     targets: Targets) -> None:
    """The rename closes the old version and opens a new one; a delta without the closing
    passes the digest (refitted) but not the checksum computed from the touched rows."""
    into, before = _one_release_behind(centre, targets, "postgresql", [
        {"op": "rename", "list": "admin-units", "code": "79",
         "name": "Thành phố Hồ Chí Minh Mới"}])
    proxy = Proxy(centre.base)

    def drop_closing(path: str, reply: Reply) -> Reply:
        if "/deltas/" not in path:
            return reply
        return _rewritten(reply, lambda lines: [
            r for r in lines if not (r.get("t") == "version" and r.get("valid_to"))])

    proxy.rewrite = drop_closing
    client = SyncClient(proxy.base, into, subscription=ADMIN_UNITS)
    try:
        message = _refused(proxy, into, before)
        assert "'admin-units' does not match" in message and "nothing was applied" in message
        proxy.rewrite = None
        assert client.pull().releases == 1
        assert client.verify().ok
    finally:
        client.close()
        proxy.close()


def test_a_delta_that_adds_a_version_is_refused(centre: Centre, targets: Targets) -> None:
    into, before = _one_release_behind(centre, targets, "sqlite", [
        unit("00004", "Phường Trúc Bạch", "Phường", "001")])
    proxy = Proxy(centre.base)

    def add_one(path: str, reply: Reply) -> Reply:
        if "/deltas/" not in path:
            return reply

        def change(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
            extra = next(dict(r) for r in lines if r.get("t") == "version")
            extra["code"], extra["name"] = "00007", "Phường Giả"
            return [extra, *lines]
        return _rewritten(reply, change)

    proxy.rewrite = add_one
    try:
        assert "6 entry versions here, 5 at the centre" in _refused(proxy, into, before)
    finally:
        proxy.close()


def test_a_delta_without_the_checksums_before_is_checked_on_the_whole_list(
        centre: Centre, targets: Targets) -> None:
    """A centre from before this change sends only the checksums after the release: the
    replica then sums the whole list, and still refuses a wrong delta."""
    into, before = _one_release_behind(centre, targets, "sqlite", [
        {"op": "rename", "list": "admin-units", "code": "001", "name": "Quận Ba Đình Mới"}])
    proxy = Proxy(centre.base)
    forged: list[bool] = [True]

    def older_centre(path: str, reply: Reply) -> Reply:
        if "/deltas/" not in path:
            return reply
        assert "checksums_before" in _page(reply.body)[0]

        def drop(header: dict[str, Any]) -> None:
            del header["checksums_before"]
        if forged[0]:
            return _rewritten(reply, lambda lines: [
                {**r, "name": "Quận Giả"} if r.get("t") == "version" else r for r in lines],
                drop)
        return _rewritten(reply, lambda lines: lines, drop)

    proxy.rewrite = older_centre
    client = SyncClient(proxy.base, into, subscription=ADMIN_UNITS)
    try:
        _refused(proxy, into, before)
        forged[0] = False
        assert client.pull().releases == 1
        assert client.verify().ok
    finally:
        client.close()
        proxy.close()


def test_deltas_need_some_lists_or_a_scope(centre: Centre) -> None:
    _seed(centre)
    epoch = _head(centre)["epoch"]
    answer = httpx.get(f"{centre.base}/sync/v1/deltas/{epoch}/1")
    assert answer.status_code == 400
    assert answer.json()["field"] == "lists" and answer.json()["rule"] == "required"
    listed = httpx.get(f"{centre.base}/sync/v1/deltas/{epoch}/1",
                       params={"lists": "admin-units"})
    assert listed.status_code == 200


def test_a_delta_for_a_scope_naming_no_entry_is_refused_by_name(centre: Centre) -> None:
    _seed(centre)
    head = _head(centre)
    url = f"{centre.base}/sync/v1/deltas/{head['epoch']}/1"
    answer = httpx.get(url, params={"scope": "admin-units:99", "through": head["release"]})
    assert answer.status_code == 404
    assert "the scope admin-units:99 names no entry of 'admin-units'" in answer.json()["message"]
    # A scope that names an entry is answered.
    assert httpx.get(url, params={"scope": "admin-units:01",
                                  "through": head["release"]}).status_code == 200


def test_a_delta_through_a_later_release_holds_the_releases_that_change_the_lists(
        centre: Centre) -> None:
    _seed(centre)
    first = _head(centre)["release"]
    centre.publish([_agency("000.00.00.G01", "Bộ một")])
    centre.publish([_agency("000.00.00.G02", "Bộ hai")])
    centre.publish([unit("00004", "Phường Trúc Bạch", "Phường", "001")])
    head = _head(centre)
    url = f"{centre.base}/sync/v1/deltas/{head['epoch']}/{first + 1}"

    def ask(lists: str = "admin-units", **extra: Any) -> httpx.Response:
        return httpx.get(url, params={"lists": lists, **extra})

    header, records = _page(ask(through=head["release"]).content)
    assert (header["from_release"], header["release"]) == (first, head["release"])
    assert [(r["t"], r.get("code")) for r in records] == [("version", "00004"),
                                                         ("release", None)]
    assert set(header["checksums_before"]) == {"admin-units"}
    # The agencies' two releases, each ended by its marker (with where it ends in the
    # feed), then the marker of the last release, which changes no agency.
    header, records = _page(ask("agencies", through=head["release"]).content)
    assert (header["from_release"], header["release"]) == (first, head["release"])
    assert [(r["t"], r["release"]) for r in records] == [
        ("version", first + 1), ("release", first + 1), ("version", first + 2),
        ("release", first + 2), ("release", head["release"])]
    assert all(isinstance(r["seq"], int) and len(r["hash"]) == 64
               for r in records if r["t"] == "release")
    # Nothing of the list up to ``through``: the answer moves the cursor to ``through``.
    header, records = _page(ask(through=first + 2).content)
    assert (header["from_release"], header["release"]) == (first, first + 2)
    assert [r["t"] for r in records] == ["release"] and header["checksums"] == {}
    # Without ``through``: one release, as before.
    header, records = _page(ask("agencies").content)
    assert header["release"] == first + 1 and len(records) == 2
    refused = ask(through=first)
    assert refused.status_code == 400 and refused.json()["field"] == "through"
    assert ask(through=head["release"] + 1).status_code == 404
    assert ask(through=0).json()["rule"] == "minimum"


def test_a_delta_stops_at_its_bound_and_the_follower_asks_again(
        centre: Centre, targets: Targets) -> None:
    """With room for one release's records per answer, a follower behind by three releases
    of its list makes three requests, each release recorded with its own marker."""
    _seed(centre)
    into = targets.new("sqlite")
    first = SyncClient(centre.base, into, subscription=ADMIN_UNITS)
    first.pull()
    first.close()
    centre.stop()
    centre.env["REGISTRY_SYNC_DELTA_RECORDS"] = "1"
    centre.start()
    for n, code in enumerate(("00004", "00007", "00010")):
        centre.publish([unit(code, f"Phường {n}", "Phường", "001")])
        centre.publish([_agency(f"000.00.00.G{n + 1:02d}", f"Bộ {n}")])
    proxy = Proxy(centre.base)
    client = SyncClient(proxy.base, into, subscription=ADMIN_UNITS)
    try:
        pulled = client.pull()
        asked = [path for path in proxy.requests if "/deltas/" in path]
        assert len(asked) == 3, asked
        assert pulled.releases == 4  # three of the list, then the last release's marker
        assert client.store.state().release == _head(centre)["release"]
        assert client.verify().ok
    finally:
        client.close()
        proxy.close()


def test_a_span_notifies_each_release(centre: Centre, targets: Targets) -> None:
    _seed(centre)
    seen: list[int] = []
    into = targets.new("sqlite")
    client = SyncClient(centre.base, into, subscription=parse_subscription("agencies", None),
                        on_release=lambda changes: seen.append(changes.release))
    try:
        client.pull()
        seen.clear()
        releases = [centre.publish([_agency(f"000.00.00.G{n:02d}", f"Bộ {n}")])
                    for n in range(1, 4)]
        assert client.pull().releases == 3
        assert seen == releases
        with client.store.engine.connect() as conn:
            rows = conn.execute(text("SELECT release_id, seq FROM registry_releases "
                                     "WHERE release_id > :r ORDER BY release_id"),
                                {"r": releases[0] - 1}).all()
        assert [r.release_id for r in rows] == releases and rows[0].seq < rows[-1].seq
    finally:
        client.close()


def test_against_a_centre_without_deltas_for_lists_the_replica_follows_the_pages(
        centre: Centre, targets: Targets) -> None:
    """A centre from before this version refuses deltas without a scope (400, field
    ``scope``): a replica of some lists then follows the change pages, as it used to."""
    _seed(centre)
    into = targets.new("sqlite")
    proxy = Proxy(centre.base)

    def older_centre(path: str) -> Reply | None:
        if "/deltas/" not in path or "scope=" in path:
            return None
        body = {"error": "validation", "field": "scope", "rule": "required",
                "message": "scope: deltas are for scoped subscriptions; unscoped replicas "
                           "follow the change pages"}
        return Reply(400, {"content-type": "application/json"},
                     json.dumps(body).encode())

    proxy.before = older_centre
    client = SyncClient(proxy.base, into, subscription=ADMIN_UNITS)
    try:
        client.pull()
        centre.publish([_agency("000.00.00.G01", "Bộ một")])
        centre.publish([unit("00004", "Phường Trúc Bạch", "Phường", "001")])
        assert client.pull().releases == 2  # every release, from the pages
        assert any("/changes/" in path for path in proxy.requests)
        _at_head_with_admin_units_proven(client, centre)
    finally:
        client.close()
        proxy.close()
