"""What a pull writes besides the data: the head it saw goes into the transaction of the
release it applies (one commit per release), and is still written when nothing is applied
or the pull fails. And the SQLite statements a release's checksums read are compiled once
per shape, with their values in the right places."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from registry.sync.client import SyncClient
from registry.sync.errors import FeedIntegrityError
from registry.sync.local_store import LocalStore, _sqlite_version_sql
from registry.sync.protocol import parse_subscription
from tests.factories import unit
from tests.sync.conftest import Centre, Targets
from tests.sync.proxy import Proxy, Reply


def _head(centre: Centre) -> dict[str, Any]:
    return dict(httpx.get(f"{centre.base}/sync/v1/head").json())


def _commits(client: SyncClient) -> list[str]:
    seen: list[str] = []
    event.listen(client.store.engine, "commit", lambda conn: seen.append("commit"))
    return seen


def _rename(centre: Centre, name: str) -> None:
    centre.publish([{"op": "rename", "list": "admin-units", "code": "01", "name": name}],
                   "2025-07-01")


@pytest.mark.parametrize("lists", [None, "admin-units"])
def test_a_release_and_the_head_seen_are_committed_together(
        centre: Centre, targets: Targets, lists: str | None) -> None:
    centre.publish([unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
    client = SyncClient(centre.base, targets.new("sqlite"),
                        subscription=parse_subscription(lists, None))
    try:
        client.pull()
        commits = _commits(client)
        _rename(centre, "Hà Nội 2")
        assert client.pull().releases == 1
        assert commits == ["commit"]  # no transaction of its own for the head
        state, head = client.store.state(), _head(centre)
        assert (state.seq, state.head_seq, state.head_release) == (
            head["seq"], head["seq"], head["release"])
    finally:
        client.close()


def test_a_pull_that_fails_still_writes_the_head_it_saw(
        centre: Centre, targets: Targets) -> None:
    centre.publish([unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
    into = targets.new("sqlite")
    proxy = Proxy(centre.base)
    client = SyncClient(proxy.base, into, subscription=parse_subscription("admin-units", None))
    try:
        client.pull()
        before = client.store.state()
        _rename(centre, "Hà Nội 2")

        def broken(path: str, reply: Reply) -> Reply:
            if "/deltas/" in path:
                return Reply(reply.status, reply.headers, reply.body[:-20])
            return reply

        proxy.rewrite = broken
        with pytest.raises(FeedIntegrityError):
            client.pull()
        state, head = client.store.state(), _head(centre)
        assert (state.seq, state.release) == (before.seq, before.release)  # not applied
        assert (state.head_seq, state.head_release) == (head["seq"], head["release"])
        assert state.last_error
    finally:
        client.close()
        proxy.close()


def test_a_pull_with_nothing_to_apply_writes_the_head_when_it_moved(
        centre: Centre, targets: Targets) -> None:
    centre.publish([unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
    client = SyncClient(centre.base, targets.new("sqlite"))
    try:
        client.pull()
        with client.store.engine.begin() as conn:  # as if noted long ago
            conn.execute(text("UPDATE registry_sync_state SET head_seq = 0, head_release = 0"))
        client._noted = None
        assert client.pull().releases == 0
        state, head = client.store.state(), _head(centre)
        assert (state.head_seq, state.head_release) == (head["seq"], head["release"])
    finally:
        client.close()


CODES = ["01", "001", "00001", "00004", "79", "760", "26734"]


@pytest.mark.parametrize(("low", "high", "codes"), [
    (None, None, None), ("002", None, None), (None, "5", None), ("001", "7", None),
    (None, None, []), (None, None, ["79"]), (None, None, ["00004", "01", "26734"]),
    ("0", "8", ["760", "01"]),
])
def test_version_rows_on_sqlite_select_what_they_are_asked(
        targets: Targets, low: str | None, high: str | None, codes: list[str] | None) -> None:
    store = LocalStore(targets.new("sqlite"))
    try:
        with store.engine.begin() as conn:
            for key in ("admin-units", "other"):
                conn.execute(text("INSERT INTO registry_lists (list_key, name, definition, "
                                  "recorded_release) VALUES (:k, :k, '{}', 1)"), {"k": key})
                for code in CODES:
                    conn.execute(text(
                        "INSERT INTO registry_versions (list_key, code, valid_from, status, "
                        "name, type, level, attributes, recorded_release, change_set) VALUES "
                        "(:k, :c, '2025-01-01', 'active', :c, 't', 'l', '{}', 1, 1)"),
                        {"k": key, "c": code})
            for _ in range(2):  # compiled the first time, taken from the cache the second
                found = [row[0] for row in store.version_rows(conn, "admin-units", low, high,
                                                              codes)]
                assert sorted(found) == sorted(
                    c for c in CODES if (low is None or c >= low) and (high is None or c < high)
                    and (codes is None or c in codes))
        assert _sqlite_version_sql.cache_info().hits >= 1
    finally:
        store.close()
