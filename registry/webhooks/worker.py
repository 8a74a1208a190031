"""The delivery worker: fans out new events, POSTs due deliveries, records every attempt.

It runs inside ``registry serve`` (one per server process) or alone (``registry webhook
run``). Any number of workers share the work safely: a worker takes a subscription's lease
before touching it, so each subscription's deliveries go out one at a time, in order, while
different subscriptions are served in parallel (``REGISTRY_WEBHOOK_JOBS`` threads). All
state is in the database, so a restart resumes where the rows say; a POST whose answer was
lost in a crash is sent again (at least once, the receiver deduplicates on ``webhook-id``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from prometheus_client import Counter, Histogram
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from registry.models import WebhookSubscription
from registry.services.webhooks import deliveries
from registry.services.webhooks.deliveries import PENDING, Due, Outcome, RetryPolicy
from registry.services.webhooks.fanout import FanOutCache, fan_out
from registry.services.webhooks.outbox import CHANNEL
from registry.services.webhooks.signing import headers
from registry.sync.listener import FeedListener

log = logging.getLogger("registry.webhooks")

POSTS = Counter("registry_webhook_posts_total", "Webhook POSTs by outcome.", ["outcome"])
POST_SECONDS = Histogram("registry_webhook_post_seconds", "Webhook POST time.",
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ENABLED_VARIABLE = "REGISTRY_WEBHOOKS"
USER_AGENT = "registry-webhooks/1"
BATCH_SECONDS = 0.02


def _now() -> datetime:
    return datetime.now(UTC)


def jobs_from_env() -> int:
    """``REGISTRY_WEBHOOK_JOBS``: subscriptions served at once (8)."""
    raw = os.environ.get("REGISTRY_WEBHOOK_JOBS", "8")
    return max(1, int(raw)) if raw.isdigit() else 8


@dataclass
class PassResult:
    """What one pass did."""

    subscriptions: int = 0
    fanned_out: int = 0
    posts: int = 0
    delivered: int = 0


class WebhookWorker:
    """Delivers webhooks from the database ``sessions`` point at."""

    def __init__(self, sessions: sessionmaker[Session], policy: RetryPolicy | None = None,
                 jobs: int | None = None, poll_seconds: float = 1.0) -> None:
        self.sessions = sessions
        self.policy = policy or RetryPolicy.from_env()
        self.jobs = jobs or jobs_from_env()
        self.poll_seconds = poll_seconds
        self.owner = uuid.uuid4().hex[:16]
        # Renewed after every POST; after a crash another worker takes over once it lapses.
        self.lease_seconds = 2 * self.policy.timeout + 5
        bind = sessions.kw.get("bind")
        self._sqlite = bind is not None and bind.dialect.name == "sqlite"
        # SQLite has one writer: the worker's short transactions take turns, the POSTs do not.
        self._db_lock = threading.Lock()
        self._client = httpx.Client(timeout=self.policy.timeout, follow_redirects=False,
                                    headers={"user-agent": USER_AGENT},
                                    limits=httpx.Limits(max_connections=self.jobs * 2))
        self._pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="registry-webhook")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: FeedListener | None = None

    @contextmanager
    def _transaction(self, writes: bool = True) -> Iterator[Session]:
        with (self._db_lock if self._sqlite else nullcontext()), \
                self.sessions() as session, session.begin():
            if self._sqlite and writes:
                # Take SQLite's write lock first: a read transaction that later writes
                # cannot wait for another process's writer, it fails ("database is locked").
                session.execute(text("UPDATE webhook_subscriptions SET id = id WHERE 0 = 1"))
            yield session

    def run_once(self) -> PassResult:
        """Serve every subscription that has work now; return what was done.

        The database work of a pass is a handful of statements whatever the number of
        subscriptions (leases, fan-out, the due deliveries, the outcomes), while the POSTs
        run on ``jobs`` threads; as each answer comes in, that subscription's next delivery
        is sent, so one slow receiver holds back only its own deliveries.
        """
        with self._transaction(writes=False) as session:
            # Idle passes only read: SQLite's write lock is taken when there is work.
            if not deliveries.subscriptions_with_work(session, _now()):
                return PassResult()
        with self._transaction() as session:
            claimed = deliveries.claim_all(session, self.owner, _now(), self.lease_seconds)
        result = PassResult(subscriptions=len(claimed))
        if not claimed:
            return result
        try:
            with self._transaction() as session:
                subs = list(session.scalars(select(WebhookSubscription)
                                            .where(WebhookSubscription.id.in_(claimed))))
                result.fanned_out = fan_out(session, subs, FanOutCache())
                heads = deliveries.due_heads(session, claimed, _now())
            running: dict[Future[Outcome], Due] = {
                self._pool.submit(self._post, due): due for due in heads}
            while running:
                done, _ = wait(running, timeout=0.05, return_when=FIRST_COMPLETED)
                if not done:
                    continue
                if len(done) < len(running):
                    # Answers that come in within a few milliseconds share a transaction:
                    # a pass costs a few statements per batch, not per POST.
                    done, _ = wait(running, timeout=BATCH_SECONDS)
                results = [(running.pop(f), f.result(), _now()) for f in done]
                result.posts += len(results)
                with self._transaction() as session:
                    statuses = deliveries.record_attempts(session, results, self.policy)
                    moved = [due.subscription_id for due, _, _ in results
                             if statuses[due.delivery_id] != PENDING]
                    deliveries.renew(session, self.owner, moved, _now(), self.lease_seconds)
                    following = ([] if self._stop.is_set() else
                                 deliveries.due_heads(session, moved, _now()))
                result.delivered += sum(s == deliveries.DELIVERED for s in statuses.values())
                for due in following:
                    running[self._pool.submit(self._post, due)] = due
        finally:
            with self._transaction() as session:
                deliveries.release_leases(session, self.owner, claimed)
        return result

    def _post(self, due: Due) -> Outcome:
        body = due.body.encode("utf-8")
        sent = headers(due.secret, str(due.delivery_id), int(time.time()), body, due.kind)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = self._client.post(due.url, content=body, headers=sent)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.TimeoutException:
            error = f"no answer within {self.policy.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency = time.perf_counter() - started
        outcome = Outcome(status, round(latency * 1000), error)
        POSTS.labels("delivered" if outcome.ok else "failed").inc()
        POST_SECONDS.observe(latency)
        if not outcome.ok:
            log.warning("webhook delivery %s to %s failed: %s", due.delivery_id, due.url,
                        error)
        return outcome

    # Running in the background (``registry serve``, ``registry webhook run``).

    def wake(self) -> None:
        """Look for work now (an event was recorded)."""
        self._wake.set()

    def run(self) -> None:
        """Pass after pass until :meth:`stop`: woken by new events (PostgreSQL) or by the
        poll, and by the earliest retry falling due."""
        while not self._stop.is_set():
            try:
                self.run_once()
                with self._transaction(writes=False) as session:
                    wake_at = deliveries.next_wake(session)
            except Exception:
                log.exception("webhook pass failed; trying again")
                wake_at = None
            # Notified of new events, the poll is only a safety net.
            listening = self._listener is not None and self._listener.connected.is_set()
            wait = self.poll_seconds * (10 if listening else 1)
            if wake_at is not None:
                wait = min(wait, max(0.0, (wake_at - _now()).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()

    def start(self) -> None:
        """Run on a background thread (and listen for new events on PostgreSQL)."""
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            self._listener = FeedListener.for_engine(bind, CHANNEL)
            if self._listener is not None:
                self._listener.start(self.wake)
        self._thread = threading.Thread(target=self.run, name="registry-webhooks",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the POSTs under way; leases are given back."""
        self._stop.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.stop()
        if self._thread is not None:
            self._thread.join(self.policy.timeout + 5)
        self.close()

    def close(self) -> None:
        """Free the threads and connections."""
        self._pool.shutdown(wait=True)
        self._client.close()


def enabled() -> bool:
    """Whether ``registry serve`` runs a worker (``REGISTRY_WEBHOOKS=0`` turns it off)."""
    return os.environ.get(ENABLED_VARIABLE, "1").lower() not in ("0", "false", "no", "off")
