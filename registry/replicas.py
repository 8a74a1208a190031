"""Reads from PostgreSQL hot standbys, never from one behind what the reader needs.

``REGISTRY_READ_DATABASE_URLS`` names one or more streaming standbys of the primary. One
thread per server process reads every standby's replayed feed head, and the primary's,
every ``REGISTRY_READ_POLL_SECONDS`` (0.1 s), and at once when the primary announces a
publish (the ``NOTIFY`` the publisher sends, see :mod:`registry.sync.listener`).

A read asks for what it needs: a release (a snapshot, a delta, checksums, ``atRelease``),
a feed position (a page of change records) or, by default, the primary's head as last
seen. It goes to a standby that has replayed that much, taking turns among them, and to the
primary otherwise. A standby that fails a connection is left out until it answers again;
the read that met the failure is run again on the primary. Writes and the review flow never
come here: they use the primary's sessions directly.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import Counter
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from registry.db import make_engine, session_factory, shown_url
from registry.errors import RegistryError
from registry.services.feed import Head, read_head
from registry.sync.listener import FeedListener

log = logging.getLogger("registry.replicas")
T = TypeVar("T")
URLS_VARIABLE = "REGISTRY_READ_DATABASE_URLS"
READS = Counter("registry_read_database_total",
                "Reads of published data by where they went: a standby, or the primary (no "
                "standby configured, none has replayed what the read needs, or one failed).",
                ["target"])


@dataclass(frozen=True)
class Need:
    """What a read needs a database to have replayed: a release and a feed position."""

    release: int = 0
    seq: int = 0

    def met_by(self, head: Head | None) -> bool:
        """Whether a database at ``head`` can answer."""
        return head is not None and head.release >= self.release and head.seq >= self.seq


@dataclass
class ReadTarget:
    """A database reads can go to: the primary or one standby."""

    name: str
    engine: Engine
    sessions: sessionmaker[Session]
    standby: bool
    head: Head | None = None
    up: bool = True
    failures: int = field(default=0)


def read_urls_from_env() -> list[str]:
    """The standbys' URLs: ``REGISTRY_READ_DATABASE_URLS``, comma-separated."""
    raw = os.environ.get(URLS_VARIABLE, "")
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    for url in urls:
        if not url.startswith(("postgresql", "postgres")):
            raise RegistryError(f"{URLS_VARIABLE}: '{shown_url(url) if '://' in url else url}' "
                                "is not a PostgreSQL URL; standbys are PostgreSQL hot standbys "
                                "of a PostgreSQL primary")
    return urls


def check_read_settings(primary_url: str) -> None:
    """Refuse, before a server starts, standbys that cannot serve ``primary_url``'s reads."""
    urls = read_urls_from_env()
    if urls and not make_url(primary_url).get_backend_name() == "postgresql":
        raise RegistryError(f"{URLS_VARIABLE} needs a PostgreSQL primary; the database is "
                            f"{make_url(primary_url).get_backend_name()}")


def poll_seconds_from_env() -> float:
    """``REGISTRY_READ_POLL_SECONDS`` (default 0.1): how often standby heads are read."""
    return max(0.01, float(os.environ.get("REGISTRY_READ_POLL_SECONDS", "0.1")))


class ReadRouter:
    """Chooses where each read goes; see the module's description."""

    def __init__(self, primary: sessionmaker[Session], standby_urls: list[str],
                 interval: float | None = None) -> None:
        bind = primary.kw.get("bind")
        assert isinstance(bind, Engine)
        self.primary = ReadTarget("primary", bind, primary, standby=False)
        if standby_urls and bind.dialect.name != "postgresql":
            raise RegistryError(f"{URLS_VARIABLE} needs a PostgreSQL primary; "
                                f"REGISTRY_DATABASE_URL is {bind.dialect.name}")
        self.standbys: list[ReadTarget] = []
        for number, url in enumerate(standby_urls, 1):
            engine = make_engine(url, pool_size=8, max_overflow=8,
                                 connect_args={"connect_timeout": 2})
            parsed = make_url(engine.url)
            name = f"standby {number} ({parsed.host}:{parsed.port or 5432})"
            self.standbys.append(ReadTarget(name, engine, session_factory(engine), True,
                                            up=False))
        self.interval = poll_seconds_from_env() if interval is None else interval
        self._turn = itertools.count()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: FeedListener | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether any standby is configured."""
        return bool(self.standbys)

    # --- choosing ---

    def primary_head(self) -> Head | None:
        """The primary's head as last read by this process."""
        return self.primary.head

    def default_need(self, at_least: int = 0) -> Need:
        """The need of a read of "the latest": the primary's head as last seen, or the
        release the client says it was already shown, whichever is newer."""
        head = self.primary.head
        if head is None:
            return Need(release=max(at_least, 1 << 62))  # not known yet: the primary
        return Need(release=max(head.release, at_least), seq=head.seq)

    def choose(self, need: Need) -> ReadTarget:
        """A standby that has replayed ``need``, taking turns; else the primary."""
        ready = [t for t in self.standbys if t.up and need.met_by(t.head)]
        if not ready:
            READS.labels("primary").inc()
            return self.primary
        READS.labels("standby").inc()
        return ready[next(self._turn) % len(ready)]

    def run(self, need: Need, read: Callable[[sessionmaker[Session]], T]) -> T:
        """``read(sessions)`` on the chosen database; when a standby's read fails, once
        more on the primary."""
        target = self.choose(need)
        if not target.standby:
            return read(target.sessions)
        try:
            return read(target.sessions)
        except DBAPIError:
            # A standby that went away, or a read it cancelled while replaying ("conflict
            # with recovery"): the primary answers this one. The standby is left out only
            # when it no longer answers.
            self.probe(target)
            READS.labels("primary").inc()
            return read(self.primary.sessions)

    def mark_down(self, target: ReadTarget, exc: BaseException | None = None) -> None:
        """Leave ``target`` out until the poll finds it answering again."""
        if target.standby and target.up:
            target.up = False
            log.warning("read database %s left out: %s", target.name,
                        str(exc).splitlines()[0] if exc else "not answering")
        self._wake.set()

    def probe(self, target: ReadTarget) -> bool:
        """Whether ``target`` answers now (marks it down when it does not)."""
        try:
            with target.sessions() as session:
                target.head = read_head(session)
            return True
        except DBAPIError as exc:
            self.mark_down(target, exc)
            return False

    # --- polling ---

    def start(self) -> None:
        """Start the poll thread (idempotent); a first round runs before returning."""
        if not self.standbys or self._thread is not None:
            return
        self._stop.clear()
        self.poll_once()
        self._listener = FeedListener.for_engine(self.primary.engine)
        if self._listener is not None:
            self._listener.start(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="read-router", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and close the standbys' connections."""
        self._stop.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for target in self.standbys:
            target.engine.dispose()

    def poll_once(self) -> None:
        """Read the primary's head, then every standby's (in that order: a standby read
        after the primary can only look less far behind than it is, never further)."""
        with self._lock:
            try:
                with self.primary.sessions() as session:
                    self.primary.head = read_head(session)
            except DBAPIError:
                log.warning("read router: the primary's head could not be read", exc_info=True)
            for target in self.standbys:
                try:
                    with target.sessions() as session:
                        head = read_head(session)
                except DBAPIError as exc:
                    target.failures += 1
                    self.mark_down(target, exc)
                    continue
                target.head = head
                if not target.up:
                    log.info("read database %s answers again at release %s", target.name,
                             head.release)
                target.up, target.failures = True, 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.poll_once()

    def describe(self) -> list[dict[str, object]]:
        """Every read database with its state, for ``/healthz``."""
        return [{"name": t.name, "up": t.up,
                 "release": t.head.release if t.head else None,
                 "seq": t.head.seq if t.head else None}
                for t in [self.primary, *self.standbys]]


def router_from_env(primary: sessionmaker[Session]) -> ReadRouter:
    """The process's router over the standbys ``REGISTRY_READ_DATABASE_URLS`` names."""
    return ReadRouter(primary, read_urls_from_env())
