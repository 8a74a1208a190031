"""The garbage collector is held back while a page's records are applied, and only then:
never during a long poll, and never left off."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from registry.sync.apply import OpenRelease
from registry.sync.client import SyncClient
from registry.sync.collector import collector_held
from registry.sync.protocol import parse_subscription
from registry.sync.transport import Transport
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[bool]]]:
    """Whether the collector was on at each staged record and at each request sent."""
    seen: dict[str, list[bool]] = {"record": [], "request": []}
    add, get = OpenRelease.add, Transport.get

    def watched_add(self: OpenRelease, record: dict[str, Any]) -> None:
        seen["record"].append(gc.isenabled())
        add(self, record)

    def watched_get(self: Transport, *args: Any, **kwargs: Any) -> Any:
        seen["request"].append(gc.isenabled())
        return get(self, *args, **kwargs)

    monkeypatch.setattr(OpenRelease, "add", watched_add)
    monkeypatch.setattr(Transport, "get", watched_get)
    assert gc.isenabled()
    yield seen
    assert gc.isenabled()


def test_the_block_holds_the_collector_and_gives_it_back() -> None:
    assert gc.isenabled()
    with collector_held():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_held():
        raise RuntimeError("a refused page")
    assert gc.isenabled(), "an error inside left the collector off"


def test_a_collector_already_off_is_left_off() -> None:
    gc.disable()
    try:
        with collector_held():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the block turned on a collector its caller had off"
    finally:
        gc.enable()


def _follow_one_release(centre: Centre, client: SyncClient,
                        watched: dict[str, list[bool]]) -> None:
    """``client``, at the head, long-polls; a release of 12 units is published meanwhile
    and applied; the collector was off at every record staged, on at every request."""
    try:
        client.pull()
        watched["record"].clear()
        watched["request"].clear()
        results: list[Any] = []
        follower = threading.Thread(target=lambda: results.append(client.pull(wait=30)))
        follower.start()
        time.sleep(0.5)  # the long poll is waiting at the centre, with the collector on
        centre.publish([unit(f"21{i:03d}", f"Phường Thử {i:03d}", "Phường", "001")
                        for i in range(12)], "2025-02-01")
        follower.join(60)
        assert results and results[0].records >= 12
        assert len(watched["record"]) >= 12
        assert not any(watched["record"]), "a record was staged with the collector on"
        assert watched["request"] and all(watched["request"]), \
            "a request (the long poll among them) went out with the collector off"
        assert client.verify().ok
    finally:
        client.close()


def test_a_follower_applies_change_pages_with_the_collector_held(
        small_page_centre: Centre, targets: Targets,
        watched: dict[str, list[bool]]) -> None:
    small_page_centre.run(hanoi)
    _follow_one_release(small_page_centre,
                        SyncClient(small_page_centre.base, targets.new("sqlite")), watched)


def test_a_lists_follower_applies_deltas_with_the_collector_held(
        centre: Centre, targets: Targets, watched: dict[str, list[bool]]) -> None:
    centre.run(hanoi)
    _follow_one_release(centre, SyncClient(centre.base, targets.new("sqlite"),
                                           subscription=parse_subscription("admin-units",
                                                                           None)), watched)
