"""The per-request context: one session, the actor, the DataLoaders and the request's time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from registry.config import Settings, today
from registry.errors import PermissionDenied
from registry.graphql.loaders import Loaders
from registry.services.actors import Actor
from registry.services.cache import ReleaseCache
from registry.services.graph_reads import Reader, check_release, latest_release


@dataclass(frozen=True)
class When:
    """The two times of a read: valid time ``as_of`` and record time ``release``.

    ``release`` is ``None`` for "the latest". Every object a read returns carries the
    ``When`` it was read at, so nested fields answer at the same time as their parent.
    """

    as_of: date
    release: int | None


class SharedReader:
    """One autocommit connection per process for the hot reads (PostgreSQL only).

    Reads run on the event loop and each statement completes before the loop switches
    request, so requests can share it. That saves, per request, a pool checkout with its
    ping, a BEGIN and a ROLLBACK: round trips that cost more than the reads themselves.
    Under READ COMMITTED a transaction would not give the statements of a request one
    snapshot anyway. Mutations never use it: they run in their own transactions.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def connection(self) -> Connection:
        """The live connection, reconnecting after the server dropped it."""
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = self._connection = self.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT")
        return connection

    def latest(self) -> int:
        """The latest release number (0 before anything is published)."""
        try:
            return latest_release(self.connection())
        except DBAPIError:
            # The server restarted or dropped us: reconnect once.
            self.close()
            return latest_release(self.connection())

    def close(self) -> None:
        """Return the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None



@dataclass
class Context:
    """What every resolver of one request shares. The session opens on first use.

    Hot reads (entries, children, lineage, resolve) go through :attr:`reader`: the shared
    autocommit connection on PostgreSQL, the request's session elsewhere (SQLite is
    in-process, and its transaction gives the request one snapshot). Published data (hot
    reads, code lists, releases, the latest release) is read where ``read_sessions`` points:
    a standby that has replayed what the request needs (registry.replicas), or the primary.
    :attr:`session` is always the primary's: writes, change sets, tokens and the ledger.
    """

    sessions: sessionmaker[Session]
    settings: Settings
    actor: Actor | None = None
    cache: ReleaseCache | None = None
    namespace: str = ""
    shared: SharedReader | None = None
    today: date = field(default_factory=today)
    cache_release: int | None = None
    cache_ok: bool = False
    read_sessions: sessionmaker[Session] | None = None
    _session: Session | None = None
    _read_session: Session | None = None
    _latest: int | None = None
    _loaders: Loaders | None = None

    @property
    def session(self) -> Session:
        """The request's session; reads roll back, each mutation commits its own work."""
        if self._session is None:
            self._session = self.sessions()
        return self._session

    @property
    def read_session(self) -> Session:
        """A session on the database published data is read from (the primary's session
        when no standby serves this request)."""
        if self.read_sessions is None:
            return self.session
        if self._read_session is None:
            self._read_session = self.read_sessions()
        return self._read_session

    @property
    def reader(self) -> Reader:
        """Where the hot reads run."""
        return self.shared.connection() if self.shared is not None else self.read_session

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders: never shared, so no answer outlives its request."""
        if self._loaders is None:
            self._loaders = Loaders(lambda: self.reader, lambda: self.session,
                                    lambda: self.read_session)
        return self._loaders

    @property
    def latest_known(self) -> bool:
        """Whether this request has read the latest release already."""
        return self._latest is not None

    def know_latest(self, release: int) -> None:
        """Take the latest release as read for this request elsewhere (registry.graphql.latest)."""
        if self._latest is None:
            self._latest = release

    def latest(self) -> int:
        """The latest release, read once per request."""
        if self._latest is None:
            self._latest = (self.shared.latest() if self.shared is not None
                            else latest_release(self.read_session))
        return self._latest

    def when(self, as_of: date | None, at_release: int | None,
             reader: Reader | None = None) -> When:
        """Check ``asOf``/``atRelease`` arguments; defaults are today and the latest.
        ``reader`` is where to check the release (default: :attr:`reader`)."""
        release = None
        if at_release is not None:
            self._latest, release = check_release(reader or self.reader, at_release)
        return When(as_of or self.today, release)

    def require_actor(self, what: str = "writing") -> Actor:
        """The authenticated actor of a write (or a guarded read); anonymous ones are refused."""
        if self.actor is None:
            raise PermissionDenied(f"{what} needs an API token: send 'Authorization: Bearer …'")
        return self.actor

    def close(self) -> None:
        """End the request: roll back whatever a read left open and return the connection."""
        for session in (self._session, self._read_session):
            if session is not None:
                session.rollback()
                session.close()
        self._session = self._read_session = None
