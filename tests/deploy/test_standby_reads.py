"""Reads from a real PostgreSQL streaming standby (scripts/topology.py): used when it has
replayed what a read needs, never when it lags behind it, and left out when it stops."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.deploy.topology_kit import (
    data,
    graphql,
    issue_token,
    pages_ahead,
    reads,
    rename,
    require_tools,
)
from tests.deploy.topology_kit import topology as topo

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS,
                                reason="standbys are PostgreSQL (REGISTRY_TEST_BACKENDS)")
WARD = '{ release { number } administrativeUnit(code: "00004") { name } }'


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A primary, a standby and two API nodes reading from it (no broker, no nginx).

    One for the module (each takes two ``initdb`` and a load of the bundled lists): the
    tests run in file order, and each leaves the standby replaying and up."""
    require_tools("initdb", "pg_basebackup", "pg_ctl")
    # Under /tmp itself: the postgres user cannot enter pytest's private directories.
    root = Path(tempfile.mkdtemp(prefix="registry-standby-test-"))
    shutil.rmtree(root)
    started = topo.up(root, nodes=2, broker=False, nginx=False, say=False)
    try:
        yield started
    finally:
        topo.down(root)


def _until(check: Any, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _quiet(node: str, seconds: float = 10.0) -> dict[str, float]:
    """The node's read counts once they have not moved for half a second."""
    deadline = time.monotonic() + seconds
    last = reads(node)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = reads(node)
        if now == last:
            return now
        last = now
    return last


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in ("standby", "primary")}


def test_reads_go_to_a_standby_that_has_the_release(cluster: Any) -> None:
    node = cluster.nodes[1].url
    before = reads(node)
    answer = data(graphql(node, WARD))
    assert answer["administrativeUnit"]["name"] == "Phường Ba Đình"
    head = httpx.get(f"{node}/sync/v1/head", timeout=10).json()
    page = httpx.get(f"{node}/sync/v1/snapshot/{head['epoch']}/{head['release']}", timeout=30)
    assert page.status_code == 200 and page.content
    moved = _delta(before, reads(node))
    assert moved["standby"] >= 2 and moved["primary"] == 0, moved
    health = httpx.get(f"{node}/healthz", timeout=10).json()
    assert [d["up"] for d in health["read_databases"]] == [True, True]
    assert health["read_databases"][1]["release"] == answer["release"]["number"]


def test_a_lagging_standby_is_never_used_for_a_newer_release(cluster: Any) -> None:
    node_a, node_b = cluster.nodes[0].url, cluster.nodes[1].url
    steward = issue_token(cluster.primary_url, "s", "steward", ["admin-units"])
    approver = issue_token(cluster.primary_url, "a", "approver")
    standby = cluster.standby()
    # Node B first ends what it builds ahead of the current release (the walk of its
    # snapshot, the pages after one a replica asked for), which the standby may serve:
    # from here on, only the new release's work runs, and it needs the primary.
    assert _until(lambda: pages_ahead(node_b) == 0, 60), "node B is still building ahead"
    standby.admin("SELECT pg_wal_replay_pause()")
    try:
        release = rename(node_a, steward, approver, "00004", "Phường Ba Đình Mới")
        # Node B hears of the release from the primary (NOTIFY) and stops using the paused
        # standby for "the latest"; until then it answers the release before, never a mix.
        answered = _until(lambda: data(graphql(node_b, WARD))["release"]["number"] == release)
        assert answered, "node B never answered the new release"
        before = _quiet(node_b)
        for _ in range(5):
            got = data(graphql(node_b, WARD))
            assert got == {"release": {"number": release},
                           "administrativeUnit": {"name": "Phường Ba Đình Mới"}}
        head = httpx.get(f"{node_b}/sync/v1/head", timeout=10).json()
        assert head["release"] == release
        page = httpx.get(f"{node_b}/sync/v1/snapshot/{head['epoch']}/{release}", timeout=30)
        assert page.status_code == 200
        moved = _delta(before, reads(node_b))
        assert moved["standby"] == 0 and moved["primary"] >= 6, moved
        # Read-your-release: a client that was shown ``release`` says so.
        shown = graphql(node_b, WARD, headers={"X-Registry-Min-Release": str(release)})
        assert data(shown)["release"]["number"] == release
        assert standby.scalar("SELECT max(id) FROM releases", "registry") == release - 1
    finally:
        standby.admin("SELECT pg_wal_replay_resume()")
    topo.wait_replayed(cluster)
    before = reads(node_b)
    assert _until(lambda: _delta(before, reads(node_b) if data(graphql(node_b, WARD)) else {})
                  ["standby"] > 0), "the caught-up standby is not used again"


def test_a_stopped_standby_leaves_reads_to_the_primary_without_errors(cluster: Any) -> None:
    node = cluster.nodes[0].url
    named = data(graphql(node, WARD))["administrativeUnit"]["name"]  # connections are open
    standby = cluster.standby()
    standby.stop("immediate")
    before = reads(node)
    for _ in range(10):
        got = data(graphql(node, WARD))  # asserts: 200, no errors
        assert got["administrativeUnit"]["name"] == named
        head = httpx.get(f"{node}/sync/v1/head", timeout=10).json()
        page = httpx.get(f"{node}/sync/v1/snapshot/{head['epoch']}/{head['release']}",
                         params={"limit": 100}, timeout=30)
        assert page.status_code == 200, page.text
    assert _delta(before, reads(node))["primary"] >= 10
    health = httpx.get(f"{node}/healthz", timeout=10).json()
    assert health["read_databases"][1]["up"] is False
    standby.start()
    assert _until(lambda: httpx.get(f"{node}/healthz", timeout=10).json()
                  ["read_databases"][1]["up"], 15), "the standby is not taken back"
    before = reads(node)
    data(graphql(node, WARD))
    assert _delta(before, reads(node))["standby"] >= 1


def test_a_steward_signed_in_through_one_node_is_signed_in_on_the_other(cluster: Any) -> None:
    from tests.web.conftest import Client

    node_a, node_b = cluster.nodes[0].url, cluster.nodes[1].url
    secret = issue_token(cluster.primary_url, "lan.admin", "admin")
    on_a = Client(node_a)
    assert on_a.login(secret).status_code == 303
    on_b = httpx.Client(base_url=node_b, cookies=on_a.http.cookies, timeout=30)
    tokens_page = on_b.get("/tokens")
    assert tokens_page.status_code == 200 and "lan.admin" in tokens_page.text
    anonymous = httpx.get(f"{node_b}/tokens", timeout=30)
    assert anonymous.status_code in (302, 303, 401, 403)
