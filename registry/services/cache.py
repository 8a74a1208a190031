"""A bounded cache keyed by release: published releases never change, so neither do answers.

Every entry is filed under the latest release its reader saw. The first reader that sees a
newer release drops everything filed under older ones, except entries stored with the code
lists they were computed from: those are carried to the new release when the releases in
between changed none of those lists (the caller says which lists they changed). An answer
computed under an older release is never stored once a newer one has been seen. So after
a publish, no request that has read the new head is served an answer from before it that
the publish could have changed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from threading import Lock
from typing import Any

MISSING: Any = object()


@dataclass
class _Item:
    release: int
    value: Any
    lists: frozenset[str] | None  # what it depends on; None: everything


class ReleaseCache:
    """An LRU map of (namespace, key) → value filed under a release.

    ``namespace`` separates databases served by one process; ``maxsize`` of 0 disables it.
    A value stored with the ``lists`` it was computed from may outlive its release: the
    first reader of a newer release asks :meth:`stale` for its release, and
    :meth:`carry` files it under the new release when the releases in between changed none
    of those lists. Values stored without ``lists`` are dropped by any newer release.
    """

    def __init__(self, maxsize: int = 20_000) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[Hashable, Hashable], _Item] = OrderedDict()
        self._newest: dict[Hashable, int] = {}
        self._lock = Lock()
        self.hits = 0
        self.misses = 0
        self.carried = 0

    def _observe(self, namespace: Hashable, release: int) -> bool:
        """Note ``release``; False if it is older than one already seen (do not use)."""
        newest = self._newest.get(namespace)
        if newest is None or release > newest:
            self._newest[namespace] = release
            if newest is not None:
                for key in [k for k, item in self._items.items()
                            if k[0] == namespace and item.lists is None]:
                    del self._items[key]
            return True
        return release == newest

    def get(self, namespace: Hashable, release: int, key: Hashable) -> Any:
        """The value filed under ``release``, or :data:`MISSING`."""
        if self.maxsize <= 0:
            return MISSING
        with self._lock:
            if not self._observe(namespace, release):
                return MISSING
            item = self._items.get((namespace, key))
            if item is None or item.release != release:
                self.misses += 1
                return MISSING
            self.hits += 1
            self._items.move_to_end((namespace, key))
            return item.value

    def stale(self, namespace: Hashable, release: int, key: Hashable) -> int | None:
        """The older release a value for ``key`` was filed under, if it may be carried to
        ``release`` (it was stored with its lists); else ``None``."""
        with self._lock:
            item = self._items.get((namespace, key))
            if (item is None or item.lists is None or item.release >= release
                    or self._newest.get(namespace) != release):
                return None
            return item.release

    def carry(self, namespace: Hashable, release: int, key: Hashable, since: int,
              changed: frozenset[str]) -> Any:
        """The value filed under ``since``, now under ``release``, when the lists changed
        by the releases after ``since`` up to ``release`` are none of its lists; else
        :data:`MISSING` (and it is dropped)."""
        with self._lock:
            item = self._items.get((namespace, key))
            if (item is None or item.release != since or item.lists is None
                    or self._newest.get(namespace) != release):
                return MISSING
            if changed & item.lists:
                del self._items[(namespace, key)]
                return MISSING
            item.release = release
            self._items.move_to_end((namespace, key))
            self.hits += 1
            self.misses -= 1  # counted by the get that found it stale
            self.carried += 1
            return item.value

    def put(self, namespace: Hashable, release: int, key: Hashable, value: Any,
            lists: frozenset[str] | None = None) -> None:
        """Store ``value`` (read from ``lists``; ``None``: from anything) unless a newer
        release has been seen meanwhile."""
        if self.maxsize <= 0:
            return
        with self._lock:
            if not self._observe(namespace, release):
                return
            self._items[(namespace, key)] = _Item(release, value, lists)
            self._items.move_to_end((namespace, key))
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._newest.clear()

    def __len__(self) -> int:
        return len(self._items)
