"""What the registry needs from a broker, and what travels through it.

A :class:`FeedMessage` is one feed record: its canonical JSON exactly as the feed stores
it (the bytes its chain hash covers) and, beside it, where it stands: epoch, seq, release
and the chain hash after it. It is published to ``<prefix>.<list key>`` (records that name
no list, such as a release's closing marker, to ``<prefix>._release``) in one ordered
stream, with the id ``<epoch>:<seq>``: a broker that de-duplicates by id stores a replayed
record once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from registry.errors import RegistryError

DEFAULT_STREAM = "REGISTRY_FEED"
DEFAULT_PREFIX = "registry.feed"
RELEASE_SUBJECT = "_release"  # the token of records that belong to no list
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


class BrokerError(RegistryError):
    """The broker refused something, or holds what the registry did not publish."""

    code = "broker"


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached."""

    code = "broker_unavailable"


class StreamMismatch(BrokerError):
    """The stream belongs to another feed: another epoch, or records the feed lacks."""

    code = "broker_stream_mismatch"


def check_names(stream: str, prefix: str) -> None:
    """Refuse a stream name or subject prefix the broker would not take."""
    if not _TOKEN.match(stream):
        raise BrokerError(f"stream name {stream!r}: letters, digits, '_' and '-' only")
    if not _PREFIX.match(prefix):
        raise BrokerError(f"subject prefix {prefix!r}: dot-separated tokens of letters, "
                          "digits, '_' and '-'")


def subject_token(list_key: str | None) -> str:
    """The last subject token for a record of ``list_key`` (``_release`` for none)."""
    if list_key is None:
        return RELEASE_SUBJECT
    if not _TOKEN.match(list_key):
        raise BrokerError(f"list key {list_key!r} cannot be a subject token")
    return list_key


@dataclass(frozen=True)
class FeedMessage:
    """One feed record on its way through the broker."""

    epoch: str
    seq: int
    release: int
    hash: str  # the chain hash after this record
    list_key: str | None
    data: bytes  # the record's canonical JSON, as the feed stores it

    @property
    def msg_id(self) -> str:
        """The broker's de-duplication id."""
        return f"{self.epoch}:{self.seq}"

    @staticmethod
    def of_record(epoch: str, seq: int, release: int, digest: str, text: str) -> FeedMessage:
        """The message for a stored feed record (``text`` its canonical JSON)."""
        record = json.loads(text)
        key = record.get("key") if record.get("t") == "list" else record.get("list")
        return FeedMessage(epoch=epoch, seq=seq, release=release, hash=digest,
                           list_key=None if key is None else str(key),
                           data=text.encode("utf-8"))


@dataclass(frozen=True)
class Position:
    """The last feed record a stream holds, and where it sits in the stream."""

    epoch: str
    seq: int
    hash: str
    stream_seq: int


@dataclass(frozen=True)
class Stored:
    """What the broker did with one published message."""

    message: FeedMessage
    stream_seq: int
    duplicate: bool


class BrokerSubscription(Protocol):
    """Messages in stream order, from the moment of subscribing."""

    def next(self, timeout: float) -> FeedMessage | None:
        """The next message, or ``None`` after ``timeout`` seconds without one. A message
        without the registry's headers raises :class:`BrokerError`."""

    def close(self) -> None:
        """Stop receiving."""


class Broker(Protocol):
    """A broker holding the feed in one ordered stream."""

    url: str
    stream: str
    prefix: str

    @property
    def connected(self) -> bool:
        """Whether the connection is up now (it reconnects by itself)."""

    def ensure_stream(self) -> None:
        """Create the stream (subjects ``<prefix>.>``) unless it exists; refuse one that
        does not take those subjects."""

    def last_messages(self, scan: int = 1000) -> list[tuple[int, FeedMessage | None]]:
        """The stream's last ``scan`` messages at most, newest first, as (stream seq,
        message); ``None`` for a message without the registry's headers."""

    def publish(self, messages: Sequence[FeedMessage]) -> list[Stored]:
        """Publish in order; stop at the first failure (raising :class:`BrokerError`), so
        that the stream never holds a record after one it lacks. A message whose id the
        stream holds already is not stored again (``duplicate``)."""

    def fetch(self, stream_seq: int) -> FeedMessage | None:
        """The message at ``stream_seq`` (``None`` without the registry's headers)."""

    def subscribe(self, subjects: str | None = None) -> BrokerSubscription:
        """New messages on ``<prefix>.<subjects>`` (default ``>``: every record)."""

    def message_count(self) -> int:
        """How many messages the stream holds."""

    def delete_stream(self) -> bool:
        """Delete the stream; whether there was one."""

    def close(self) -> None:
        """Close the connection."""
