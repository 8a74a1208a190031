"""The per-request context: one session, the actor, the DataLoaders and the request's time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from registry.config import Settings, today
from registry.errors import PermissionDenied
from registry.graphql.loaders import Loaders
from registry.services.actors import Actor
from registry.services.graph_reads import check_release
from registry.services.queries import latest_release


@dataclass(frozen=True)
class When:
    """The two times of a read: valid time ``as_of`` and record time ``release``.

    ``release`` is ``None`` for "the latest". Every object a read returns carries the
    ``When`` it was read at, so nested fields answer at the same time as their parent.
    """

    as_of: date
    release: int | None


@dataclass
class Context:
    """What every resolver of one request shares. The session opens on first use."""

    sessions: sessionmaker[Session]
    settings: Settings
    actor: Actor | None = None
    today: date = field(default_factory=today)
    _session: Session | None = None
    _latest: int | None = None
    _loaders: Loaders | None = None

    @property
    def session(self) -> Session:
        """The request's session; reads roll back, each mutation commits its own work."""
        if self._session is None:
            self._session = self.sessions()
        return self._session

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders: never shared, so no answer outlives its request."""
        if self._loaders is None:
            self._loaders = Loaders(self.session)
        return self._loaders

    def latest(self) -> int:
        """The latest release, read once per request."""
        if self._latest is None:
            self._latest = latest_release(self.session)
        return self._latest

    def when(self, as_of: date | None, at_release: int | None) -> When:
        """Check ``asOf``/``atRelease`` arguments; defaults are today and the latest."""
        release = None
        if at_release is not None:
            self._latest, release = check_release(self.session, at_release)
        return When(as_of or self.today, release)

    def require_actor(self) -> Actor:
        """The authenticated actor of a write; anonymous writes are refused."""
        if self.actor is None:
            raise PermissionDenied("writing needs an API token: send 'Authorization: Bearer …'")
        return self.actor

    def close(self) -> None:
        """End the request: roll back whatever a read left open and return the connection."""
        if self._session is not None:
            self._session.rollback()
            self._session.close()
            self._session = None
