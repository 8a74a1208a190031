"""The server's caches make a missing value once: the followers a release wakes together
wait for the page or delta being built instead of building it again each."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from registry.sync.server import LRU


class Maker:
    """A slow ``make``: it waits for ``go`` and counts its calls."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.go = threading.Event()
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self) -> str:
        with self.lock:
            self.calls += 1
            call = self.calls
        self.started.set()
        assert self.go.wait(10)
        if self.fail_first and call == 1:
            raise RuntimeError("the database went away")
        return f"page made by call {call}"


def _ask(cache: LRU, maker: Maker, out: list[Any], key: str = "page") -> threading.Thread:
    def run() -> None:
        try:
            out.append(cache.get_or_make(key, maker))
        except RuntimeError as exc:
            out.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _waiting(cache: LRU, key: str, count: int) -> None:
    """Until ``count`` more callers wait on ``key``'s making (they are blocked in it)."""
    making = cache._making[key]
    for _ in range(500):
        # The threads blocked in the Future's result(), on its condition.
        if len(making._condition._waiters) >= count:  # type: ignore[attr-defined]
            return
        threading.Event().wait(0.01)
    raise AssertionError("the callers never waited")


def test_callers_that_come_while_a_value_is_made_wait_for_it() -> None:
    cache, maker = LRU(8), Maker()
    out: list[Any] = []
    first = _ask(cache, maker, out)
    assert maker.started.wait(10)
    others = [_ask(cache, maker, out) for _ in range(5)]
    _waiting(cache, "page", 5)
    maker.go.set()
    for thread in (first, *others):
        thread.join(10)
    assert maker.calls == 1
    assert out == ["page made by call 1"] * 6
    assert cache.get("page") == "page made by call 1"
    assert not cache._making


def test_a_making_that_fails_is_tried_again_by_each_waiting_caller() -> None:
    cache, maker = LRU(8), Maker(fail_first=True)
    out: list[Any] = []
    first = _ask(cache, maker, out)
    assert maker.started.wait(10)
    second = _ask(cache, maker, out)
    _waiting(cache, "page", 1)
    maker.go.set()
    first.join(10)
    second.join(10)
    assert maker.calls == 2
    assert isinstance(out[0], RuntimeError)
    assert out[1] == "page made by call 2"
    assert not cache._making


def test_other_keys_are_not_held_up() -> None:
    cache, slow = LRU(8), Maker()
    out: list[Any] = []
    held = _ask(cache, slow, out, "slow")
    assert slow.started.wait(10)
    assert cache.get_or_make("quick", lambda: "at once") == "at once"
    slow.go.set()
    held.join(10)
    assert out == ["page made by call 1"]


@pytest.mark.parametrize("value", [None, 0, ""])
def test_a_falsy_value_is_kept_and_shared(value: Any) -> None:
    cache = LRU(8)
    calls: list[int] = []

    def make() -> Any:
        calls.append(1)
        return value

    assert cache.get_or_make("k", make) == value
    assert cache.get_or_make("k", make) == value
    assert calls == [1]
