"""Gazetteers kept between requests: a bounded LRU keyed by release, loaded once at a time.

Reading a gazetteer costs about half a second to a second (the whole list on two dates and
its lineage); converting with it costs microseconds. So the snapshots are kept in a
:class:`~registry.services.cache.ReleaseCache`, filed under the latest release the request
saw and keyed by (list, release, fromDate, toDate): the first request after a publish
sees the new head and drops every snapshot filed under the old one, so no answer computed
before a publish is served after it. Requests that want a snapshot being read wait for
that read instead of starting their own. The name index that addresses need (another
second) is built the same way, in a worker thread, on the first request that needs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from registry.errors import NotFound
from registry.graphql.context import Context
from registry.services.cache import MISSING, ReleaseCache
from registry.services.conversion import Gazetteer, load_gazetteer
from registry.services.conversion.kept import KEPT_GAZETTEERS
from registry.services.graph_reads import list_id


def _load(sessions: sessionmaker[Session], list_key: str, from_date: date | None,
          to_date: date, release: int) -> Gazetteer:
    # A session of its own: the read runs in a worker thread, not on the event loop.
    with sessions() as session:
        try:
            return load_gazetteer(session, from_date, to_date, release, list_key)
        finally:
            session.rollback()


class Gazetteers:
    """The process's snapshots (shared with the web page: :mod:`registry.services.conversion.kept`),
    and the reads of them in flight."""

    def __init__(self, cache: ReleaseCache) -> None:
        self.cache = cache
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}

    async def _once(self, key: Hashable, work: Callable[[], Any]) -> Any:
        """``work()`` in a worker thread; callers with the same key share one run."""
        flight = (key, id(asyncio.get_running_loop()))
        pending = self._loading.get(flight)
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(work))
            self._loading[flight] = pending
            pending.add_done_callback(lambda _: self._loading.pop(flight, None))
        # Shielded: a client that goes away does not cancel the work others wait for.
        return await asyncio.shield(pending)

    async def get(self, context: Context, list_key: str, from_date: date | None,
                  to_date: date | None, at_release: int | None) -> Gazetteer:
        """The snapshot of ``list_key`` for these dates at ``at_release`` (default: latest)."""
        if at_release is not None:
            context.when(None, at_release)  # refuses a release that does not exist
        head = context.latest()
        if list_id(context.reader, list_key) is None:
            raise NotFound(f"no code list '{list_key}'")
        release = head if at_release is None else at_release
        # Defaults are resolved before keying: "today" moves, and the default fromDate
        # follows from (list, release, toDate).
        key = (list_key, release, from_date, to_date or context.today)
        found = self.cache.get(context.namespace, head, key)
        if found is not MISSING:
            assert isinstance(found, Gazetteer)
            return found
        gazetteer: Gazetteer = await self._once(
            (context.namespace, head, key),
            lambda: _load(context.read_sessions or context.sessions, list_key, from_date,
                          key[3], release))
        self.cache.put(context.namespace, head, key, gazetteer)
        return gazetteer

    async def with_names(self, gazetteer: Gazetteer) -> Gazetteer:
        """``gazetteer`` with its address index built (off the event loop)."""
        await self._once(("names", id(gazetteer)), lambda: gazetteer.matcher)
        return gazetteer


GAZETTEERS = Gazetteers(KEPT_GAZETTEERS)
