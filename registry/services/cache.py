"""A bounded cache keyed by release: published releases never change, so neither do answers.

Every entry is filed under the latest release its reader saw. The first reader that sees a
newer release drops everything filed under older ones, and an answer computed under an
older release is never stored once a newer one has been seen. So after a publish, no
request that has read the new head can be served an answer from before it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from threading import Lock
from typing import Any

MISSING: Any = object()


class ReleaseCache:
    """An LRU map of (namespace, release, key) → value, one generation per namespace.

    ``namespace`` separates databases served by one process; ``maxsize`` of 0 disables it.
    """

    def __init__(self, maxsize: int = 20_000) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[Hashable, int, Hashable], Any] = OrderedDict()
        self._newest: dict[Hashable, int] = {}
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def _observe(self, namespace: Hashable, release: int) -> bool:
        """Note ``release``; False if it is older than one already seen (do not use)."""
        newest = self._newest.get(namespace)
        if newest is None or release > newest:
            self._newest[namespace] = release
            if newest is not None:
                for key in [k for k in self._items if k[0] == namespace]:
                    del self._items[key]
            return True
        return release == newest

    def get(self, namespace: Hashable, release: int, key: Hashable) -> Any:
        """The cached value, or :data:`MISSING`."""
        if self.maxsize <= 0:
            return MISSING
        with self._lock:
            if not self._observe(namespace, release):
                return MISSING
            value = self._items.get((namespace, release, key), MISSING)
            if value is MISSING:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end((namespace, release, key))
            return value

    def put(self, namespace: Hashable, release: int, key: Hashable, value: Any) -> None:
        """Store ``value`` unless a newer release has been seen meanwhile."""
        if self.maxsize <= 0:
            return
        with self._lock:
            if not self._observe(namespace, release):
                return
            self._items[(namespace, release, key)] = value
            self._items.move_to_end((namespace, release, key))
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._newest.clear()

    def __len__(self) -> int:
        return len(self._items)
