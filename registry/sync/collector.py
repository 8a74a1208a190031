"""Python's cyclic garbage collector, held back while a page's records are applied.

Decoding a page of 1,000 records makes tens of thousands of dicts and strings, and every
700 allocations the collector walks the young ones, all still in use. Over a
14,000-record release that was 12–25 ms of a follower's 0.25 s of CPU, and now and then
a full collection of the process's objects came on top (100 ms, measured in a long-running
follower). The records are acyclic and freed by reference counting as soon as the page
is applied, so holding the collector back for one page loses nothing; it runs again,
on whatever is left, as soon as the page is done.

Only a page's decoding and applying are held back, never a wait for the network: an
application that embeds the client keeps its collector between pages and during long
polls.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_held() -> Iterator[None]:
    """Disable automatic collection for the block (left alone if already disabled)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
