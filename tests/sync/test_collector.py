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
from registry.sync.collector import collector_held, collector_released
from registry.sync.protocol import parse_subscription
from registry.sync.transport import Transport
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[bool]]]:
    """Whether the collector was on at each staged record and at each request sent."""
    seen: dict[str, list[bool]] = {"record": [], "request": [], "hook": []}
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


def test_a_hook_runs_with_the_collector_and_the_page_goes_on_without() -> None:
    with collector_held():
        with collector_released():
            assert gc.isenabled()
        assert not gc.isenabled(), "the rest of the page ran with the collector on"
    assert gc.isenabled()
    with collector_released():  # outside a page: nothing to give back
        assert gc.isenabled()
    assert gc.isenabled()


def test_a_collector_already_off_is_left_off() -> None:
    gc.disable()
    try:
        with collector_held():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the block turned on a collector its caller had off"
        with collector_held(), collector_released():
            assert not gc.isenabled(), "a hook turned on a collector the application had off"
        assert not gc.isenabled()
    finally:
        gc.enable()


def _follow_one_release(centre: Centre, url: str, watched: dict[str, list[bool]],
                        **options: Any) -> None:
    """A client of ``url``, at the head, long-polls; a release of 12 units is published
    meanwhile and applied; the collector was off at every record staged, on at every
    request and while the ``on_release`` hook ran."""
    client = SyncClient(centre.base, url,
                        on_release=lambda _changes: watched["hook"].append(gc.isenabled()),
                        **options)
    try:
        client.pull()
        for seen in watched.values():
            seen.clear()
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
        assert watched["hook"] == [True], "the hook ran with the collector held back"
        assert client.verify().ok
    finally:
        client.close()


def test_a_follower_applies_change_pages_with_the_collector_held(
        small_page_centre: Centre, targets: Targets,
        watched: dict[str, list[bool]]) -> None:
    small_page_centre.run(hanoi)
    _follow_one_release(small_page_centre, targets.new("sqlite"), watched)


def test_a_lists_follower_applies_deltas_with_the_collector_held(
        centre: Centre, targets: Targets, watched: dict[str, list[bool]]) -> None:
    centre.run(hanoi)
    _follow_one_release(centre, targets.new("sqlite"), watched,
                        subscription=parse_subscription("admin-units", None))
