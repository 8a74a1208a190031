"""A follower driven by the broker's messages ends identical to one that long-polls; what
does not fit (a forged record, a gap) is refused and pulled over HTTP instead."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from registry.broker.base import Broker, FeedMessage
from registry.broker.relay import Relay
from registry.services.feed import canonical_json, chain_hash, read_head
from registry.sync.broker_follow import BrokerFollower, BrokerFollowStats
from registry.sync.client import SyncClient
from registry.sync.local_store import LocalState, LocalStore, NoReplica
from tests import processes
from tests.broker.conftest import StreamNames
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets, dump, free_port

REPO = Path(__file__).resolve().parents[2]


def _until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextmanager
def running_relay(centre: Centre, names: StreamNames) -> Iterator[Relay]:
    """The relay on a thread of this process, with a connection of its own."""
    broker = names.open()
    relay = Relay(centre.engine, broker, poll=0.05)
    relay.resume()
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.shutdown()
        thread.join(10)
        broker.close()


@contextmanager
def broker_follower(centre: Centre, into: str, names: StreamNames,
                    **options: Any) -> Iterator[tuple[SyncClient, BrokerFollowStats]]:
    """A client following with the broker's messages, on a thread."""
    client = SyncClient(centre.base, into, **options)
    broker = names.open()
    follower = BrokerFollower(client, broker, idle_pull=600)
    found: dict[str, Any] = {}

    def run() -> None:
        try:
            follower.run()
        except BaseException as exc:  # handed to the test
            found["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield client, follower.stats
    finally:
        client.shutdown()
        thread.join(15)
        broker.close()
        client.close()
        assert "error" not in found, found.get("error")


def _head_seq(centre: Centre) -> int:
    return int(centre.run(lambda session: read_head(session).seq))


def _state(into: str) -> LocalState | None:
    """The replica's cursor, read on a connection of the test's own."""
    try:
        store = LocalStore(into, create=False)
    except NoReplica:
        return None
    try:
        return store.state()
    finally:
        store.close()


def _at_head(centre: Centre, *replicas: str) -> Callable[[], bool]:
    def check() -> bool:
        seq = _head_seq(centre)
        return all((state := _state(into)) is not None and state.seq == seq
                   for into in replicas)
    return check


def _releases(centre: Centre, count: int, start: int) -> None:
    for i in range(count):
        centre.publish([unit(f"{start + i:05d}", f"Phường Mới {start + i}", "Phường", "001")],
                       title=f"release {i}")


def test_a_broker_follower_and_an_http_follower_end_identical(
        pg_centre: Centre, targets: Targets, nats_stream: StreamNames) -> None:
    centre = pg_centre
    centre.run(hanoi)
    into_broker, into_http = targets.new("sqlite"), targets.new("postgresql")
    http = SyncClient(centre.base, into_http)
    http.pull()
    http_thread = threading.Thread(target=lambda: http.follow(wait=2), daemon=True)
    http_thread.start()
    try:
        with running_relay(centre, nats_stream), \
                broker_follower(centre, into_broker, nats_stream) as (client, stats):
            _until(_at_head(centre, into_broker))
            _releases(centre, 5, 300)
            # A release of more records than one page holds.
            centre.publish([unit(f"{9000 + i:05d}", f"Phường Lớn {i}", "Phường", "002")
                            for i in range(1200)], title="large")
            _releases(centre, 3, 400)
            _until(_at_head(centre, into_broker, into_http), 60)
            assert stats.releases >= 9 and stats.fallbacks == 0 and stats.refused == 0
            assert client.verify().ok
    finally:
        http.shutdown()
        http_thread.join(10)
    assert http.verify().ok
    http.close()
    assert dump(into_broker) == dump(into_http)


def _forge(names: StreamNames, broker: Broker, records: list[dict[str, Any]], epoch: str,
           prev: str, *, true_hash: bool = True) -> None:
    """Publish records on the relay's subjects as someone else would, chained from
    ``prev`` (with ``true_hash`` False, the hashes do not chain)."""
    digest = prev
    messages = []
    for record in records:
        text = canonical_json(record)
        digest = chain_hash(digest, text) if true_hash else "f" * 64
        messages.append(FeedMessage(epoch=epoch, seq=record["seq"], release=record["release"],
                                    hash=digest, list_key=record.get("list"),
                                    data=text.encode("utf-8")))
    js = broker._js  # type: ignore[attr-defined]  # the NATS implementation's own client
    for message in messages:
        subject = f"{names.prefix}.{message.list_key or '_release'}"
        broker._call(js.publish(  # type: ignore[attr-defined]
            subject, message.data, headers={
                "Nats-Msg-Id": f"forged-{message.seq}-{true_hash}",
                "Registry-Epoch": message.epoch, "Registry-Seq": str(message.seq),
                "Registry-Release": str(message.release), "Registry-Hash": message.hash}))


def test_a_forged_record_in_the_stream_is_refused_and_the_follower_ends_correct(
        sqlite_centre: Centre, targets: Targets, nats_stream: StreamNames) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    forger = nats_stream.open()
    try:
        with running_relay(centre, nats_stream) as relay, \
                broker_follower(centre, into, nats_stream) as (client, stats):
            _until(_at_head(centre, into))
            _until(lambda: relay.position == _head_seq(centre))
            head = centre.run(read_head)
            forged = {"t": "version", "list": "admin-units", "code": "00013",
                      "valid_from": "2025-01-01", "valid_to": None, "status": "active",
                      "name": "Phường Giả Mạo", "short_name": None, "name_en": None,
                      "type": "Phường", "level": None, "parent": "001", "attributes": {},
                      "change_set": 999, "seq": head.seq + 1, "release": head.release + 1,
                      "format": 1}
            marker = {"t": "release", "seq": head.seq + 2, "release": head.release + 1,
                      "format": 1, "title": "forged"}
            # Hashes that do not chain: refused by the chain check.
            _forge(nats_stream, forger, [forged, marker], head.epoch, head.hash,
                   true_hash=False)
            _until(lambda: stats.refused >= 1)
            # A perfect forgery (the public chain extended): refused by the centre's hash.
            _forge(nats_stream, forger, [forged, marker], head.epoch, head.hash)
            _until(lambda: stats.refused >= 2)
            # A gap: a record far beyond the head.
            gap = {**marker, "seq": head.seq + 50}
            _forge(nats_stream, forger, [gap], head.epoch, head.hash)
            _until(lambda: stats.fallbacks >= 3)
            _releases(centre, 3, 500)
            _until(_at_head(centre, into))
            _until(lambda: stats.releases >= 1)  # the relay went on after the foreign ones
            assert client.verify().ok
            state = _state(into)
            assert state is not None and (state.seq, state.hash) == (_head_seq(centre),
                                               centre.run(read_head).hash)
    finally:
        forger.close()
    rows = dump(into)["registry_versions"]
    assert not any("Giả Mạo" in value for row in rows for value in row)


def test_replayed_messages_are_skipped(sqlite_centre: Centre, targets: Targets,
                                       nats_stream: StreamNames) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    with running_relay(centre, nats_stream) as relay, \
            broker_follower(centre, into, nats_stream) as (_client, stats):
        _until(_at_head(centre, into))
        _releases(centre, 2, 600)
        _until(_at_head(centre, into))
        _until(lambda: relay.position == _head_seq(centre))
        before = dump(into)
        # The same records again under other ids (so the stream stores them): at least
        # once delivery, as after a consumer's reconnection.
        head = centre.run(read_head)
        replayer = nats_stream.open()
        try:
            last = replayer.fetch(replayer.message_count())
            assert last is not None
            js = replayer._js  # type: ignore[attr-defined]
            replayer._call(js.publish(  # type: ignore[attr-defined]
                f"{nats_stream.prefix}._release", last.data, headers={
                    "Nats-Msg-Id": "replay-1", "Registry-Epoch": last.epoch,
                    "Registry-Seq": str(last.seq), "Registry-Release": str(last.release),
                    "Registry-Hash": last.hash}))
        finally:
            replayer.close()
        _until(lambda: stats.replays >= 2)  # the subscription's first message, and this
        assert stats.fallbacks == 0 and stats.refused == 0
        assert dump(into) == before
        assert (state := _state(into)) is not None and state.seq == head.seq


def test_a_scoped_follower_takes_release_markers_as_wake_ups(
        sqlite_centre: Centre, targets: Targets, nats_stream: StreamNames) -> None:
    from registry.sync.protocol import parse_subscription

    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    with running_relay(centre, nats_stream), \
            broker_follower(centre, into, nats_stream,
                            subscription=parse_subscription(None, "001")) as (client, stats):
        _until(_at_head(centre, into))
        _releases(centre, 2, 700)
        _until(_at_head(centre, into))
        assert stats.wakeups >= 2 and stats.releases == 0
        assert client.verify().ok


def test_the_broker_down_at_start_is_a_clear_error_for_the_follower(
        sqlite_centre: Centre, targets: Targets) -> None:
    sqlite_centre.run(hanoi)
    url = f"nats://127.0.0.1:{free_port()}"
    into = targets.new("sqlite")
    done = processes.run([sys.executable, "-m", "registry.sync", "pull", "--from",
                           sqlite_centre.base, "--into", into, "--follow", "--broker", url,
                           "--quiet"], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=os.environ.copy())
    assert done.returncode == 5, done.stderr
    assert f"error: cannot reach the broker at {url}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not Path(into.removeprefix("sqlite:///")).exists()  # nothing created

