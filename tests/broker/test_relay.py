"""The relay publishes the feed in seq order, resumes after a kill, and replays harmlessly."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from registry.broker.base import Broker, FeedMessage, StreamMismatch
from registry.broker.relay import Relay
from registry.db import session_factory, transaction
from registry.models import FeedRecord
from registry.services.feed import new_epoch, read_head
from tests import processes
from tests.broker.conftest import StreamNames
from tests.conftest import Database
from tests.factories import hanoi, publish, unit

REPO = Path(__file__).resolve().parents[2]


def _feed(database: Database) -> list[tuple[int, int, str, str]]:
    with session_factory(database.engine)() as session:
        return [(int(s), int(r), str(t), str(h)) for s, r, t, h in session.execute(
            select(FeedRecord.seq, FeedRecord.release_id, FeedRecord.record, FeedRecord.hash)
            .order_by(FeedRecord.seq))]


def _epoch(database: Database) -> str:
    with session_factory(database.engine)() as session:
        return read_head(session).epoch


def _stream(broker: Broker) -> list[tuple[str, bytes, dict[str, Any]]]:
    """Every message of the stream in stream order: subject, data, headers."""
    js = broker._js  # type: ignore[attr-defined]  # the NATS implementation's own client
    found = []
    for seq in range(1, broker.message_count() + 1):
        raw = broker._call(js.get_msg(broker.stream, seq))  # type: ignore[attr-defined]
        found.append((raw.subject, raw.data, raw.headers or {}))
    return found


def _publish_some(database: Database, count: int, start: int = 100) -> None:
    for i in range(count):
        with transaction(session_factory(database.engine)) as session:
            publish(session, [unit(f"{start + i:05d}", f"Phường Thử {start + i}", "Phường",
                                   "001")], title=f"test release {i}")


def test_the_relay_publishes_every_record_in_order_with_its_id(
        database: Database, nats_stream: StreamNames) -> None:
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
    _publish_some(database, 3)
    broker = nats_stream.open()
    try:
        relay = Relay(database.engine, broker, listen=False)
        assert relay.run_once() == len(_feed(database))
        epoch = _epoch(database)
        messages = _stream(broker)
        feed = _feed(database)
        assert len(messages) == len(feed)
        for (subject, data, headers), (seq, release, text, digest) in zip(messages, feed,
                                                                        strict=True):
            record = json.loads(text)
            assert data == text.encode("utf-8")  # the bytes the chain hash covers
            assert headers["Nats-Msg-Id"] == f"{epoch}:{seq}"
            assert (headers["Registry-Seq"], headers["Registry-Release"],
                    headers["Registry-Epoch"], headers["Registry-Hash"]) == \
                (str(seq), str(release), epoch, digest)
            token = record.get("key") if record["t"] == "list" else record.get("list")
            assert subject == f"{nats_stream.prefix}.{token or '_release'}"
        assert relay.stats.releases == sum(json.loads(text)["t"] == "release"
                                           for _, _, text, _ in feed)
    finally:
        broker.close()


def test_republishing_the_same_records_is_deduplicated(
        database: Database, nats_stream: StreamNames) -> None:
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
    broker = nats_stream.open()
    try:
        relay = Relay(database.engine, broker, listen=False)
        relay.run_once()
        count = broker.message_count()
        epoch = _epoch(database)
        again = broker.publish([FeedMessage.of_record(epoch, s, r, h, t)
                                for s, r, t, h in _feed(database)])
        assert all(item.duplicate for item in again)
        # A relay that believes it published nothing replays the whole feed: all held.
        replay = Relay(database.engine, broker, listen=False)
        replay.position, replay.epoch = 0, epoch
        replay.run_once()
        assert (replay.stats.published, replay.stats.duplicates) == (0, count)
        assert broker.message_count() == count == len(_feed(database))
    finally:
        broker.close()


def test_a_stream_of_another_epoch_is_refused(database: Database,
                                              nats_stream: StreamNames) -> None:
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
    broker = nats_stream.open()
    try:
        Relay(database.engine, broker, listen=False).run_once()
        with transaction(session_factory(database.engine)) as session:
            new_epoch(session)  # the centre restored from a backup
        with pytest.raises(StreamMismatch, match=r"holds epoch .* the feed was rebuilt"):
            Relay(database.engine, broker, listen=False).run_once()
    finally:
        broker.close()


def _relay_process(database: Database, names: StreamNames, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REGISTRY_DATABASE_URL": database.url}
    return processes.popen(
        [sys.executable, "-m", "registry", "broker", "relay", "--url", names.url, "--stream",
         names.stream, "--subject-prefix", names.prefix, "--poll", "0.05"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"), cwd=REPO)


def _until(check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_relay_killed_between_and_during_releases_resumes_without_loss_or_duplicates(
        database: Database, nats_stream: StreamNames, tmp_path: Path) -> None:
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
    rng = random.Random()
    log = tmp_path / "relay.log"
    broker = nats_stream.open()
    try:
        for round_ in range(4):
            process = _relay_process(database, nats_stream, log)
            try:
                if round_ % 2 == 0:
                    # Killed once it has caught up, before the next release.
                    _until(lambda: broker.message_count() == len(_feed(database)))
                else:
                    # Killed at a random moment while a release is being relayed.
                    time.sleep(rng.uniform(0.3, 1.5))
            finally:
                os.kill(process.pid, signal.SIGKILL)  # our own child, by its id
                process.wait()
            _publish_some(database, 2, start=200 + 10 * round_)
        process = _relay_process(database, nats_stream, log)
        try:
            _until(lambda: broker.message_count() == len(_feed(database)))
        finally:
            process.terminate()
            process.wait(10)
        messages = _stream(broker)
        assert [int(h["Registry-Seq"]) for _, _, h in messages] == \
            [seq for seq, *_ in _feed(database)], log.read_text()[-2000:]
        assert broker.message_count() == len(_feed(database))
    finally:
        broker.close()


def test_the_broker_down_at_start_is_a_clear_error_naming_the_url(
        database: Database, tmp_path: Path) -> None:
    from tests.sync.conftest import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    env = {**os.environ, "REGISTRY_DATABASE_URL": database.url}
    done = processes.run([sys.executable, "-m", "registry", "broker", "relay", "--url", url],
                          env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 5
    assert f"error: cannot reach the broker at {url}" in done.stderr
    assert "Traceback" not in done.stderr
