"""Per read database, what the GraphQL view keeps: its shared connection, its asyncio
readers and its shared "latest release" read (registry.graphql.context, .planned.readers,
.latest). The primary has one; so has every standby of registry.replicas."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from weakref import WeakSet

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import ExceptionContext
from starlette.requests import Request

from registry.graphql.context import SharedReader
from registry.graphql.latest import SharedLatest
from registry.graphql.planned.readers import AsyncReaders
from registry.replicas import ReadRouter, ReadTarget
from registry.services import raw_reads

MIN_RELEASE_HEADER = "x-registry-min-release"
# The database errors a request met on a standby (None outside a request served by one):
# GraphQL turns them into errors of the answer, and the view asks the primary instead.
STANDBY_FAILURES: ContextVar[list[BaseException] | None] = ContextVar(
    "registry_standby_failures", default=None)


_WATCHED: WeakSet[Engine] = WeakSet()


def _note(error: BaseException) -> None:
    failures = STANDBY_FAILURES.get()
    if failures is not None:
        failures.append(error)


def _note_failure(context: ExceptionContext) -> None:
    _note(context.original_exception)


def _note_raw_failure(connection: Connection, error: BaseException) -> None:
    if connection.engine in _WATCHED:
        _note(error)


def watch_failures(engine: Engine) -> None:
    """Note every error a read on ``engine`` meets (through SQLAlchemy, or run directly
    by registry.services.raw_reads) in the current request's STANDBY_FAILURES."""
    _WATCHED.add(engine)
    raw_reads.on_failure(_note_raw_failure)
    if not event.contains(engine, "handle_error", _note_failure):
        event.listen(engine, "handle_error", _note_failure)


@dataclass
class ReadSide:
    """One read database as the GraphQL view uses it."""

    target: ReadTarget
    shared: SharedReader | None
    readers: AsyncReaders | None = None
    latest: SharedLatest | None = None

    async def start(self, size: int) -> None:
        """Open the asyncio readers (PostgreSQL only)."""
        if size > 0 and self.target.engine.dialect.name == "postgresql":
            self.readers = AsyncReaders(self.target.engine, size)
            self.latest = SharedLatest(self.readers)
            if self.target.standby:
                watch_failures(self.readers.engine.sync_engine)

    async def stop(self) -> None:
        """Close the asyncio readers and the shared connection."""
        readers, self.readers, self.latest = self.readers, None, None
        if readers is not None:
            await readers.close()
        if self.shared is not None:
            self.shared.close()


def sides_of(router: ReadRouter) -> dict[str, ReadSide]:
    """A side for the primary and for every standby, by target name."""
    for standby in router.standbys:
        watch_failures(standby.engine)
    return {t.name: ReadSide(t, SharedReader(t.engine)
                             if t.engine.dialect.name == "postgresql" else None)
            for t in [router.primary, *router.standbys]}


def min_release(request: Request) -> int:
    """The release the client says it has already been shown (``X-Registry-Min-Release``,
    echoing an earlier answer's ``X-Registry-Release``): never answer from before it."""
    raw = request.headers.get(MIN_RELEASE_HEADER, "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else 0
