"""Python's cyclic garbage collector, held back while a page's records are applied.

Decoding a page of 1,000 records makes tens of thousands of dicts and strings, and every
700 allocations the collector walks the young ones, all still in use. Over a
14,000-record release that was 13–27 ms of a follower's 0.25 s of CPU, and now and then
a full collection of the process's objects came on top (100 ms, measured in a long-running
follower). The records are acyclic and freed by reference counting as soon as the page
is applied, so holding the collector back for one page loses nothing; it runs again,
on whatever is left, as soon as the page is done.

Only a page's decoding and applying are held back, never a wait for the network nor an
``on_release`` hook: an application that embeds the client keeps its collector between
pages, during long polls and while its hook runs. One that turns the collector off from
another thread while a page is being applied finds it on again when the page is done.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Whether the collector is off because collector_held turned it off (not the application).
_held = False


@contextmanager
def collector_held() -> Iterator[None]:
    """Disable automatic collection for the block (left alone if already disabled)."""
    global _held
    if not gc.isenabled():
        yield
        return
    gc.disable()
    _held = True
    try:
        yield
    finally:
        _held = False
        gc.enable()


@contextmanager
def collector_released() -> Iterator[None]:
    """Let the collector run during the block if :func:`collector_held` holds it back:
    an application's hook may run for long, and the collector is the whole process's."""
    if not _held or gc.isenabled():
        yield
        return
    gc.enable()
    try:
        yield
    finally:
        if _held:  # the page is still being applied
            gc.disable()
