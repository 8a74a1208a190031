"""The broker on NATS JetStream (the ``nats-py`` client, imported only here).

One stream holds the whole feed in seq order; each record's subject names its list, so a
consumer can filter by list and still see the records in global order. The registry's
code is synchronous and threaded, nats-py is asyncio: a private event loop on a daemon
thread runs the client, and every method here waits for its coroutine.

Ordering under pipelining: a batch is published without waiting for each
acknowledgement. Its first message carries ``Nats-Expected-Last-Sequence`` (the stream's
last sequence), each later one ``Nats-Expected-Last-Msg-Id`` (the id of the message before
it). If one is lost, or anyone else's message lands in between, every later one of the
batch is refused by the server, so the stream never holds a record after one it lacks.
``Nats-Msg-Id`` is ``<epoch>:<seq>``: JetStream stores a replayed record once (it checks
the id first).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy, PubAck
from nats.js.errors import NotFoundError

from registry.broker.base import (
    BrokerError,
    BrokerUnavailable,
    FeedMessage,
    Stored,
    check_names,
    subject_token,
)

log = logging.getLogger("registry.broker")
T = TypeVar("T")
WINDOW = 256  # messages in flight before their acknowledgements are awaited
DUPLICATE_WINDOW = 3600.0  # seconds JetStream remembers message ids
H_EPOCH, H_SEQ, H_RELEASE, H_HASH = ("Registry-Epoch", "Registry-Seq", "Registry-Release",
                                     "Registry-Hash")


def _headers(message: FeedMessage) -> dict[str, str]:
    return {"Nats-Msg-Id": message.msg_id, H_EPOCH: message.epoch, H_SEQ: str(message.seq),
            H_RELEASE: str(message.release), H_HASH: message.hash}


def _message(subject: str, data: bytes, headers: dict[str, str] | None,
             prefix: str) -> FeedMessage | None:
    """The feed message a stream message carries; ``None`` without the registry's headers."""
    headers = headers or {}
    try:
        epoch, seq = headers[H_EPOCH], int(headers[H_SEQ])
        release, digest = int(headers[H_RELEASE]), headers[H_HASH]
    except (KeyError, ValueError):
        return None
    token = subject[len(prefix) + 1:] if subject.startswith(prefix + ".") else subject
    return FeedMessage(epoch=epoch, seq=seq, release=release, hash=digest,
                       list_key=None if token == "_release" else token, data=bytes(data))


class _Loop:
    """An asyncio loop on a daemon thread, for a synchronous caller."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nats-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class JetStreamSubscription:
    """An ordered push consumer of new messages (no acknowledgements; it re-creates
    itself from the last stream sequence it delivered after a reconnection)."""

    def __init__(self, broker: JetStreamBroker, sub: Any) -> None:
        self._broker = broker
        self._sub = sub

    def next(self, timeout: float) -> FeedMessage | None:
        """The next message, or ``None`` after ``timeout`` seconds."""
        try:
            msg = self._broker._loop.run(self._sub.next_msg(timeout=timeout), timeout + 5)
        except (NatsTimeout, TimeoutError):
            return None
        except Exception as exc:  # a closed or broken subscription: the caller falls back
            raise BrokerError(f"the subscription to {self._broker.url} failed: {exc}") from exc
        found = _message(msg.subject, msg.data, msg.headers, self._broker.prefix)
        if found is None:
            raise BrokerError(f"a message on {msg.subject} without the registry's headers")
        return found

    def close(self) -> None:
        """Stop receiving."""
        try:
            self._broker._loop.run(self._sub.unsubscribe(), 5)
        except Exception:  # closing a subscription of a dead connection
            log.debug("unsubscribe failed", exc_info=True)


class JetStreamBroker:
    """:class:`~registry.broker.base.Broker` on NATS JetStream."""

    def __init__(self, url: str, stream: str, prefix: str, loop: _Loop, nc: Any) -> None:
        self.url, self.stream, self.prefix = url, stream, prefix
        self._loop = loop
        self._nc = nc
        self._js = nc.jetstream()
        self._last_stream_seq: int | None = None
        self._closing = threading.Event()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] | None = None
        self._inbox = ""
        self._batch = 0

    @classmethod
    def connect(cls, url: str, stream: str, prefix: str,
                connect_timeout: float = 5.0) -> JetStreamBroker:
        """Connect; :class:`BrokerUnavailable` naming ``url`` if nothing answers in time.
        Once connected, a lost connection is re-established for ever in the background."""
        check_names(stream, prefix)
        loop = _Loop()
        errors: list[str] = []
        closing = threading.Event()

        async def error_cb(exc: Exception) -> None:
            errors.append(str(exc) or type(exc).__name__)

        async def disconnected_cb() -> None:
            if not closing.is_set():
                log.warning("broker %s: disconnected; reconnecting", url)

        async def reconnected_cb() -> None:
            log.warning("broker %s: reconnected", url)

        async def connect() -> Any:
            return await asyncio.wait_for(nats.connect(
                url, connect_timeout=min(connect_timeout, 2.0), max_reconnect_attempts=-1,
                reconnect_time_wait=1.0, error_cb=error_cb, disconnected_cb=disconnected_cb,
                reconnected_cb=reconnected_cb, name="registry"), connect_timeout)

        try:
            nc = loop.run(connect(), connect_timeout + 5)
        except Exception as exc:
            loop.stop()
            cause = errors[-1] if errors else (str(exc) or type(exc).__name__)
            raise BrokerUnavailable(f"cannot reach the broker at {url}: {cause}") from None
        broker = cls(url, stream, prefix, loop, nc)
        broker._closing = closing
        try:
            loop.run(broker._js.account_info(), 10)
        except Exception as exc:
            broker.close()
            raise BrokerUnavailable(f"the broker at {url} does not offer JetStream "
                                    f"(start nats-server with -js): {exc}") from None
        return broker

    @property
    def connected(self) -> bool:
        """Whether the connection is up now."""
        return bool(self._nc.is_connected)

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        try:
            return self._loop.run(coroutine, timeout)
        except BrokerError:
            raise
        except NotFoundError:
            raise
        except Exception as exc:
            if not self.connected:
                raise BrokerUnavailable(f"the broker at {self.url} is unreachable: "
                                        f"{exc or type(exc).__name__}") from None
            raise BrokerError(f"the broker at {self.url}: {exc or type(exc).__name__}"
                              ) from None

    def ensure_stream(self) -> None:
        """Create the stream unless it exists; refuse one without our subjects."""
        subjects = f"{self.prefix}.>"
        try:
            info = self._call(self._js.stream_info(self.stream))
        except NotFoundError:
            try:
                self._call(self._js.add_stream(
                    name=self.stream, subjects=[subjects], duplicate_window=DUPLICATE_WINDOW,
                    description="registry feed records in seq order"))
            except BrokerError as exc:
                if "overlap" not in exc.message:
                    raise
                raise BrokerError(f"cannot create stream {self.stream} at {self.url}: another "
                                  f"stream takes subjects {subjects} already; relay into that "
                                  "stream (--stream) or give another --subject-prefix"
                                  ) from None
            log.info("created stream %s (subjects %s)", self.stream, subjects)
            return
        if subjects not in (info.config.subjects or []):
            raise BrokerError(f"stream {self.stream} at {self.url} takes subjects "
                              f"{info.config.subjects}, not {subjects}: name another stream "
                              "(--stream) or prefix (--subject-prefix)")

    def message_count(self) -> int:
        """How many messages the stream holds (0 when there is no stream yet)."""
        try:
            return int(self._call(self._js.stream_info(self.stream)).state.messages)
        except NotFoundError:
            return 0

    def _stream_last(self) -> int:
        return int(self._call(self._js.stream_info(self.stream)).state.last_seq)

    def fetch(self, stream_seq: int) -> FeedMessage | None:
        """The message at ``stream_seq``."""
        raw = self._call(self._js.get_msg(self.stream, stream_seq))
        return _message(raw.subject or "", raw.data or b"", raw.headers, self.prefix)

    def last_messages(self, scan: int = 1000) -> list[tuple[int, FeedMessage | None]]:
        """The last ``scan`` messages at most, newest first."""
        last = self._stream_last()
        self._last_stream_seq = last
        found: list[tuple[int, FeedMessage | None]] = []
        seq = last
        while seq > 0 and len(found) < scan:
            try:
                found.append((seq, self.fetch(seq)))
            except NotFoundError:  # removed by a limit or by hand
                break
            seq -= 1
        return found

    def publish(self, messages: Sequence[FeedMessage]) -> list[Stored]:
        """Publish in order, pipelined; stop at the first failure."""
        if self._last_stream_seq is None:
            self._last_stream_seq = self._stream_last()
        done: list[Stored] = []
        for start in range(0, len(messages), WINDOW):
            window = messages[start:start + WINDOW]
            try:
                acks = self._call(self._publish_window(window, self._last_stream_seq), 120)
            except BrokerError:
                self._last_stream_seq = None  # read again before the next publish
                raise
            for message, (ack, error) in zip(window, acks, strict=True):
                if error is not None:
                    self._last_stream_seq = None
                    raise BrokerError(f"publishing seq {message.seq} to {self.stream} at "
                                      f"{self.url} failed: {error}; "
                                      f"{len(done)} message(s) before it were stored")
                done.append(Stored(message, int(ack.seq), bool(ack.duplicate)))
                if not ack.duplicate:
                    self._last_stream_seq = int(ack.seq)
        return done

    async def _publish_window(self, window: Sequence[FeedMessage], last: int
                              ) -> list[tuple[Any, str | None]]:
        # Sent one after another on the one connection (so in order), each with its own
        # reply subject; the acknowledgements are awaited afterwards. (nats-py's own
        # publish_async never completes a publish the server refuses with a 400.)
        if self._acks is None:
            self._inbox = self._nc.new_inbox()
            self._acks = {}
            await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        futures: list[asyncio.Future[dict[str, Any]]] = []
        for number, message in enumerate(window):
            # The first follows the stream's last message; each other one the message
            # before it in the window (by id: a foreign message in between breaks that
            # too, where a stream sequence could match again by chance).
            expect = {"Nats-Expected-Last-Sequence": str(last)} if number == 0 else \
                {"Nats-Expected-Last-Msg-Id": window[number - 1].msg_id}
            headers = {**_headers(message), **expect}
            subject = f"{self.prefix}.{subject_token(message.list_key)}"
            token = f"{self._batch}-{number}"
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._acks[token] = future
            futures.append(future)
            await self._nc.publish(subject, message.data, reply=f"{self._inbox}.{token}",
                                   headers=headers)
        self._batch += 1
        await self._nc.flush()
        results: list[tuple[Any, str | None]] = []
        try:
            for future in futures:
                try:
                    reply = await asyncio.wait_for(future, 30)
                except TimeoutError:
                    results.append((None, "no acknowledgement in 30 s"))
                    continue
                error = reply.get("error")
                results.append((None, str(error.get("description") or error)) if error
                               else (PubAck.from_response(reply), None))
        finally:
            for number in range(len(window)):
                self._acks.pop(f"{self._batch - 1}-{number}", None)
        return results

    async def _on_ack(self, msg: Any) -> None:
        future = (self._acks or {}).get(msg.subject.rpartition(".")[2])
        if future is None or future.done():
            return
        try:
            future.set_result(json.loads(msg.data) if msg.data else {
                "error": {"description": f"status {msg.headers and msg.headers.get('Status')}"}})
        except ValueError:
            future.set_result({"error": {"description": "an unreadable acknowledgement"}})

    def subscribe(self, subjects: str | None = None) -> JetStreamSubscription:
        """The stream's last message on ``<prefix>.<subjects>``, then every new one, in
        stream order."""
        subject = f"{self.prefix}.{subjects or '>'}"
        sub = self._call(self._js.subscribe(subject, stream=self.stream, ordered_consumer=True,
                                            # The last message (a replay, skipped) then
                                            # the new ones: so the consumer knows its
                                            # place in the stream if it must re-create
                                            # itself after a reconnection.
                                            deliver_policy=DeliverPolicy.LAST,
                                            idle_heartbeat=2.0))
        return JetStreamSubscription(self, sub)

    def delete_stream(self) -> bool:
        """Delete the stream."""
        try:
            return bool(self._call(self._js.delete_stream(self.stream)))
        except NotFoundError:
            return False

    def close(self) -> None:
        """Close the connection and stop the loop."""
        self._closing.set()
        try:
            self._loop.run(self._nc.close(), 10)
        except Exception:  # closing what is already broken
            log.debug("closing the broker connection failed", exc_info=True)
        self._loop.stop()
