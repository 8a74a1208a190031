"""The whole topology of scripts/topology.py: a primary and a standby, two API nodes, nginx
with its cache in front of them, NATS JetStream with the relay. Followers connect through
nginx; releases are published through one node or the other."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.broker import open_broker
from registry.sync.client import SyncClient
from tests.conftest import BACKENDS
from tests.deploy.topology_kit import issue_token, rename, require_tools
from tests.deploy.topology_kit import topology as topo
from tests.sync.conftest import dump

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS,
                                reason="the topology is PostgreSQL (REGISTRY_TEST_BACKENDS)")


@pytest.fixture
def whole() -> Iterator[Any]:
    """Everything scripts/topology.py starts."""
    require_tools("initdb", "pg_basebackup", "pg_ctl", "nginx", "nats-server")
    root = Path(tempfile.mkdtemp(prefix="registry-topology-test-"))
    shutil.rmtree(root)
    started = topo.up(root, nodes=2, say=False)
    try:
        yield started
    finally:
        topo.down(root)


def _until(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def release_seq(whole: Any) -> int:
    """The feed's head seq on the primary."""
    return int(whole.primary().scalar("SELECT seq FROM feed_head", "registry"))


class Follower:
    """A replica following in a thread (long polls, or the broker's messages);
    ``applied(release)`` waits for a release."""

    def __init__(self, base: str, into: str, broker: Any = None) -> None:
        self.client = SyncClient(base, into)
        self.client.pull()
        self.broker = broker
        self.errors: list[Exception] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.broker is not None:
                self.client.follow_broker(self.broker)
            else:
                self.client.follow(wait=20, on_error=self.errors.append)
        except Exception as exc:  # the test reads it
            self.errors.append(exc)

    def release(self) -> int:
        return self.client.store.state().release

    def applied(self, release: int, seconds: float) -> float | None:
        """Seconds until ``release`` was applied, or ``None`` after ``seconds``."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if self.release() >= release:
                return time.monotonic() - started
            time.sleep(0.005)
        return None

    def stop(self) -> None:
        self.client.stop.set()
        self.thread.join(30)
        self.client.close()
        if self.broker is not None:
            self.broker.close()


def test_followers_through_nginx_across_nodes(whole: Any, tmp_path: Path) -> None:
    nginx = whole.nginx_url
    node_a, node_b = whole.nodes[0].url, whole.nodes[1].url
    steward = issue_token(whole.primary_url, "s", "steward", ["admin-units"])
    approver = issue_token(whole.primary_url, "a", "approver")

    # A first replica bootstraps through nginx; a second one is served from its cache.
    first = Follower(nginx, f"sqlite:///{tmp_path / 'first.db'}")
    # A third takes its releases from the broker (the relay publishes into JetStream).
    pushed = Follower(nginx, f"sqlite:///{tmp_path / 'pushed.db'}",
                      open_broker(whole.nats_url, whole.stream))
    log = Path(whole.dir) / "nginx" / "access.log"
    before = log.read_text("utf-8").count("/sync/v1/snapshot/")
    second = SyncClient(nginx, f"sqlite:///{tmp_path / 'second.db'}")
    second.pull()
    snapshot_lines = [line for line in log.read_text("utf-8").splitlines()
                      if "/sync/v1/snapshot/" in line][before:]
    assert snapshot_lines and all("cache=HIT" in line for line in snapshot_lines), \
        snapshot_lines
    assert second.verify().ok
    second.close()

    try:
        # A release published through node A reaches the follower (long-polling through
        # nginx, which balances over both nodes) within a second.
        delays = []
        for name in ("Phường Ba Đình A", "Phường Ba Đình B", "Phường Ba Đình A2"):
            release = rename(node_a, steward, approver, "00004", name)
            delay = first.applied(release, 10)
            assert delay is not None, f"release {release} not applied; {first.errors}"
            delays.append(delay)
        print("applied after", delays)
        # Each within a second; one of three may miss it on a loaded machine.
        assert sorted(delays)[1] < 1.0, delays

        # Node A goes away: the follower goes on through node B, and nothing is lost.
        topo.stop_process(whole.process("node-1"))
        release = rename(node_b, steward, approver, "00004", "Phường Ba Đình C")
        assert first.applied(release, 30) is not None, first.errors
        report = first.client.verify()
        assert report.ok, report
        assert pushed.applied(release, 30) is not None, pushed.errors

        # The broker goes away: the broker-driven follower falls back to HTTP; when it is
        # back, the relay fills the stream in again and the messages flow on.
        nats = whole.process("nats")
        topo.stop_process(nats)
        release = rename(node_b, steward, approver, "00004", "Phường Ba Đình D")
        assert pushed.applied(release, 30) is not None, pushed.errors
        restarted = topo.start_nats(whole, int(whole.nats_url.rsplit(":", 1)[1]))
        whole.others[whole.others.index(nats)] = restarted
        whole.save()
        stream = open_broker(whole.nats_url, whole.stream)
        try:
            assert _until(lambda: max((m.seq for _, m in stream.last_messages(5) if m),
                                      default=0) == release_seq(whole), 30), \
                "the relay did not fill the stream in after the broker came back"
        finally:
            stream.close()
        release = rename(node_b, steward, approver, "00004", "Phường Ba Đình E")
        assert pushed.applied(release, 30) is not None, pushed.errors
        assert first.applied(release, 30) is not None, first.errors

        # The broker-driven follower ends identical to the one that long-polled.
        assert pushed.client.verify().ok
        assert dump(pushed.client.target) == dump(first.client.target)
    finally:
        first.stop()
        pushed.stop()
    assert httpx.get(f"{nginx}/healthz", timeout=10).status_code == 200
