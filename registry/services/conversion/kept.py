"""The snapshots a process keeps between conversions, shared by every interface.

A gazetteer costs about a second to read and some 20–35 MB to keep; GraphQL and the web
page ask for the same ones, so they share one bounded cache, filed by release: the first
request after a publish drops every snapshot of the earlier head.
``REGISTRY_GAZETTEER_CACHE`` sets how many are kept (0: none).
"""

from __future__ import annotations

import os

from registry.services.cache import ReleaseCache

DEFAULT_SIZE = 2

KEPT_GAZETTEERS = ReleaseCache(int(os.environ.get("REGISTRY_GAZETTEER_CACHE",
                                                  str(DEFAULT_SIZE))))
