"""Webhook delivery against a real HTTP receiver: signatures, filters, retries, order, dead
letters and replays, on SQLite and PostgreSQL (issue: both directions between the centre and
the localities)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from standardwebhooks import Webhook, WebhookVerificationError

from registry.db import session_factory, transaction
from registry.errors import PermissionDenied
from registry.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from registry.services import change_sets
from registry.services.actors import SYSTEM
from registry.services.webhooks import deliveries, subscriptions
from registry.services.webhooks.deliveries import RetryPolicy
from registry.webhooks.worker import WebhookWorker
from tests.conftest import Database
from tests.factories import STEWARD, draft, hanoi, publish, unit
from tests.webhooks.receiver import Receiver, running_receiver

FAST = RetryPolicy(window=60, backoff=0.05, backoff_max=0.2, timeout=0.5)
PUBLISHED = "release.published"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


def _subscribe(database: Database, url: str, events: str = PUBLISHED, lists: str | None = None,
               scope: str | None = None) -> tuple[int, str]:
    with transaction(session_factory(database.engine)) as session:
        row = subscriptions.add_subscription(session, SYSTEM, url, events, lists, scope)
        return row.id, row.secret


def _publish(database: Database, ops: list[dict[str, Any]] | None = None) -> int:
    with transaction(session_factory(database.engine)) as session:
        return hanoi(session) if ops is None else publish(session, ops)


def _drain(worker: WebhookWorker, until: Any, seconds: float = 20) -> None:
    """Run passes until ``until()`` holds (retries wait for their backoff)."""
    deadline = time.monotonic() + seconds
    while not until():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        worker.run_once()
        time.sleep(0.02)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _worker(database: Database, policy: RetryPolicy = FAST, jobs: int = 4) -> WebhookWorker:
    return WebhookWorker(session_factory(database.engine), policy, jobs=jobs)


def test_a_release_is_posted_signed_and_names_what_changed(database: Database,
                                                           receiver: Receiver) -> None:
    _, secret = _subscribe(database, receiver.url())
    release = _publish(database)
    worker = _worker(database)
    _drain(worker, lambda: receiver.accepted())
    worker.close()
    [got] = receiver.received
    # The reference implementation of Standard Webhooks accepts it…
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == PUBLISHED and got.headers["registry-event"] == PUBLISHED
    data = payload["data"]
    assert data["release"] == release and data["last_seq"] >= data["first_seq"] > 0
    assert data["lists"]["admin-units"]["codes"] == [
        "00001", "00004", "00013", "00037", "001", "002", "01"]
    # …and refuses a changed body, another secret, and an old timestamp.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"00001", b"00002"), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(subscriptions.new_secret()).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body, {**got.headers, "webhook-timestamp": "1000000000"})


def test_lists_and_scope_filter_what_is_sent(database: Database, receiver: Receiver) -> None:
    _publish(database)
    _subscribe(database, receiver.url("/all"))
    _subscribe(database, receiver.url("/hanoi"), scope="01")
    _subscribe(database, receiver.url("/agencies"), lists="agencies")
    _publish(database, [unit("02", "Tỉnh Hà Giang", "Tỉnh"), unit("024", "Huyện Đồng Văn",
                                                                   "Huyện", "02")])
    _publish(database, [unit("00040", "Phường Mới", "Phường", "001")])
    worker = _worker(database)
    _drain(worker, lambda: len(receiver.accepted()) >= 3)
    worker.run_once()
    worker.close()
    everything = [r.json["data"]["lists"]["admin-units"]["codes"]
                  for r in receiver.accepted("/all")]
    assert everything == [["02", "024"], ["00040"]]
    # Hà Nội's receiver hears only of its own ward; the agencies' receiver of nothing.
    [hanoi_only] = receiver.accepted("/hanoi")
    assert hanoi_only.json["data"]["lists"]["admin-units"]["codes"] == ["00040"]
    assert hanoi_only.json["data"]["scope"] == "admin-units:01"
    assert receiver.accepted("/agencies") == []


def test_failures_are_retried_with_backoff_and_logged(database: Database,
                                                      receiver: Receiver) -> None:
    receiver.plan = [500, 503, "hang", 200]
    receiver.hang_seconds = FAST.timeout * 3
    sub, _ = _subscribe(database, receiver.url())
    _publish(database)
    worker = _worker(database)
    _drain(worker, lambda: receiver.accepted())
    worker.close()
    with transaction(session_factory(database.engine)) as session:
        [delivery] = deliveries.deliveries_of(session, sub)
        attempts = deliveries.attempts_of(session, [delivery.id])[delivery.id]
        assert delivery.status == "delivered" and delivery.attempts == 4
        assert [a.status_code for a in attempts] == [500, 503, None, 200]
        assert [a.error for a in attempts][:3] == [
            "HTTP 500", "HTTP 503", f"no answer within {FAST.timeout:g} s"]
        # Each retry waited at least half its backoff (jitter never goes below half).
        gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]
        assert gaps[0] >= FAST.backoff / 2 and gaps[1] >= FAST.backoff


def test_deliveries_stay_in_release_order_while_one_is_retried(database: Database,
                                                               receiver: Receiver) -> None:
    receiver.plan = [500, 500, 500]
    _subscribe(database, receiver.url())
    first = _publish(database)
    second = _publish(database, [unit("00040", "Phường Mới", "Phường", "001")])
    third = _publish(database, [unit("00041", "Phường Mới Hai", "Phường", "001")])
    worker = _worker(database)
    _drain(worker, lambda: len(receiver.accepted()) == 3)
    worker.close()
    releases = [r.json["data"]["release"] for r in receiver.received]
    # Three refusals of the first release, then each release once, in order.
    assert releases == [first, first, first, first, second, third]


def test_a_dead_letter_is_parked_after_the_window_and_replayed(database: Database,
                                                               receiver: Receiver) -> None:
    receiver.default = 500
    sub, _ = _subscribe(database, receiver.url())
    first = _publish(database)
    policy = RetryPolicy(window=1.5, backoff=0.05, backoff_max=0.1, timeout=0.5)
    worker = _worker(database, policy)
    sessions = session_factory(database.engine)

    def statuses() -> list[str]:
        with transaction(sessions) as session:
            return [d.status for d in reversed(deliveries.deliveries_of(session, sub))]

    _drain(worker, lambda: statuses() == ["dead"])
    tries = len(receiver.received)
    assert tries >= 2  # retried (how often depends on the machine's load)
    with transaction(sessions) as session:
        [dead] = deliveries.deliveries_of(session, sub)
        last = deliveries.attempts_of(session, [dead.id])[dead.id][-1]
        # Retried until the window's end, not given up early.
        tried_for = (_utc(last.at) - _utc(dead.retry_from)).total_seconds()
        assert tried_for >= policy.window
    # The next release is not held back by the dead letter.
    receiver.default = 200
    second = _publish(database, [unit("00040", "Phường Mới", "Phường", "001")])
    _drain(worker, lambda: statuses() == ["dead", "delivered"])
    assert [r.json["data"]["release"] for r in receiver.accepted()] == [second]
    # An administrator replays it: delivered, with a new window.
    with transaction(sessions) as session:
        assert deliveries.replay(session, SYSTEM, subscription_id=sub) == 1
    _drain(worker, lambda: statuses() == ["delivered", "delivered"])
    worker.close()
    assert [r.json["data"]["release"] for r in receiver.accepted()] == [second, first]
    assert len(receiver.received) == tries + 2


def test_change_set_steps_are_posted_for_the_lists_they_touch(database: Database,
                                                              receiver: Receiver) -> None:
    _publish(database)
    _publish(database, [unit("02", "Tỉnh Hà Giang", "Tỉnh")])
    _subscribe(database, receiver.url("/units"), "changeset.status", lists="admin-units")
    _subscribe(database, receiver.url("/agencies"), "changeset.status", lists="agencies")
    _subscribe(database, receiver.url("/hanoi"), "changeset.status", scope="01")
    _subscribe(database, receiver.url("/hagiang"), "changeset.status", scope="02")
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        cs = draft(session, [{"op": "rename", "list": "admin-units", "code": "00004",
                              "name": "Phường Trúc Bạch Mới"}])
    with transaction(sessions) as session:
        change_sets.submit(session, STEWARD, cs)
    worker = _worker(database)
    _drain(worker, lambda: len(receiver.accepted()) >= 1)
    worker.run_once()
    worker.close()
    # The draft was created before it had an operation: only its submission names a list.
    [got] = receiver.accepted("/units")
    assert got.json["type"] == "changeset.status"
    assert {k: got.json["data"][k] for k in ("change_set", "status", "action", "lists")} == {
        "change_set": cs, "status": "submitted", "action": "submit", "lists": ["admin-units"]}
    assert receiver.accepted("/agencies") == []
    # A scope hears of the change sets about its units only (judged by their operations
    # when the worker fans the events out: here both steps of this one).
    assert [r.json["data"]["status"] for r in receiver.accepted("/hanoi")] == [
        "draft", "submitted"]
    assert receiver.accepted("/hagiang") == []


def test_a_rolled_back_publication_leaves_no_event(database: Database) -> None:
    sessions = session_factory(database.engine)
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(WebhookEvent))
    with sessions() as session, session.begin():
        hanoi(session)
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) > before
        session.rollback()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == before


def test_two_workers_never_post_a_delivery_twice(database: Database,
                                                 receiver: Receiver) -> None:
    for n in range(6):
        _subscribe(database, receiver.url(f"/r{n}"))
    releases = [_publish(database)] + [
        _publish(database, [unit(f"0004{n}", f"Phường {n}", "Phường", "001")])
        for n in range(3)]
    workers = [_worker(database), _worker(database)]
    threads = [threading.Thread(target=_drain, args=(w, lambda: len(receiver.accepted())
                                                     >= 24)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for w in workers:
        w.close()
    assert len(receiver.received) == 24
    for n in range(6):
        assert [r.json["data"]["release"] for r in receiver.accepted(f"/r{n}")] == releases
    sessions = session_factory(database.engine)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 24
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)
                              .where(WebhookDelivery.status != "delivered")) == 0


def test_pruning_keeps_what_is_owed_and_what_is_evidence(database: Database) -> None:
    sessions = session_factory(database.engine)
    with running_receiver() as good, running_receiver(default=500) as bad:
        ok, _ = _subscribe(database, good.url())
        failing, _ = _subscribe(database, bad.url())
        first = _publish(database)
        _publish(database, [unit("00040", "Phường Mới", "Phường", "001")])
        worker = _worker(database, RetryPolicy(window=0.01, timeout=1))
        _drain(worker, lambda: len(good.accepted()) == 2 and len(bad.received) >= 2)
        worker.close()
    with transaction(sessions) as session:
        old = datetime.now(UTC) - timedelta(days=100)
        session.execute(update(WebhookDelivery).where(
            WebhookDelivery.subscription_id == ok,
            WebhookDelivery.event_id == select(WebhookEvent.id).where(
                WebhookEvent.release_id == first, WebhookEvent.kind == PUBLISHED
            ).scalar_subquery()).values(delivered_at=old))
        session.execute(update(WebhookEvent).values(created_at=old))
        total = session.scalar(select(func.count()).select_from(WebhookEvent))
        with pytest.raises(PermissionDenied):
            deliveries.prune(session, STEWARD, datetime.now(UTC))
        done = deliveries.prune(session, SYSTEM, datetime.now(UTC) - timedelta(days=90))
    # The first release's delivered POST and its attempt go; its dead letter (and so its
    # event) stays, as does everything of the second release; the events no subscription
    # wanted (change-set steps, the release of the built-in lists) go.
    assert (done.deliveries, done.attempts, done.events) == (1, 1, total - 2)
    with sessions() as session:
        left = {(d.subscription_id, d.status) for d in session.scalars(select(WebhookDelivery))}
        assert left == {(ok, "delivered"), (failing, "dead")}
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 2
