"""Per read database, what the GraphQL view keeps: its shared connection, its asyncio
readers and its shared "latest release" read (registry.graphql.context, .planned.readers,
.latest). The primary has one; so has every standby of registry.replicas."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from registry.graphql.context import SharedReader
from registry.graphql.latest import SharedLatest
from registry.graphql.planned.readers import AsyncReaders
from registry.replicas import ReadRouter, ReadTarget

MIN_RELEASE_HEADER = "x-registry-min-release"


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

    async def stop(self) -> None:
        """Close the asyncio readers and the shared connection."""
        readers, self.readers, self.latest = self.readers, None, None
        if readers is not None:
            await readers.close()
        if self.shared is not None:
            self.shared.close()


def sides_of(router: ReadRouter) -> dict[str, ReadSide]:
    """A side for the primary and for every standby, by target name."""
    return {t.name: ReadSide(t, SharedReader(t.engine)
                             if t.engine.dialect.name == "postgresql" else None)
            for t in [router.primary, *router.standbys]}


def min_release(request: Request) -> int:
    """The release the client says it has already been shown (``X-Registry-Min-Release``,
    echoing an earlier answer's ``X-Registry-Release``): never answer from before it."""
    raw = request.headers.get(MIN_RELEASE_HEADER, "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else 0
