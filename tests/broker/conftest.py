"""A real NATS server with JetStream for the broker tests, and the sync tests' centres.

``REGISTRY_TEST_NATS`` names the server (default ``nats://127.0.0.1:4222``). Like
PostgreSQL's, an unreachable NATS fails the tests, never skips them: CI must not pass
without it. Every test relays into a stream and subjects of its own and deletes the
stream afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest

from registry.broker import open_broker
from registry.broker.base import Broker, BrokerError
from tests.sync.conftest import (  # noqa: F401 (fixtures used by this package's tests)
    Centre,
    Targets,
    centre,
    pg_centre,
    sqlite_centre,
    targets,
)

NATS_URL = os.environ.get("REGISTRY_TEST_NATS", "nats://127.0.0.1:4222")


def _reachable() -> None:
    parsed = urlparse(NATS_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222),
                                      timeout=3):
            pass
    except OSError as exc:
        pytest.fail(f"NATS with JetStream is required for the broker tests and is unreachable "
                    f"at {NATS_URL}: {exc}. Start nats-server -js, or set REGISTRY_TEST_NATS.",
                    pytrace=False)


@dataclass
class StreamNames:
    """A stream and subject prefix of the test's own."""

    url: str
    stream: str
    prefix: str

    def open(self) -> Broker:
        """A new connection to the test's stream."""
        return open_broker(self.url, self.stream, self.prefix)


@pytest.fixture
def nats_stream() -> Iterator[StreamNames]:
    """Unique names; the stream is deleted after the test."""
    _reachable()
    tag = uuid.uuid4().hex[:12]
    names = StreamNames(NATS_URL, f"T_{tag}", f"t{tag}.feed")
    yield names
    try:
        broker = names.open()
    except BrokerError:
        return
    try:
        broker.delete_stream()
    finally:
        broker.close()
