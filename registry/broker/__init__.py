"""Push past one machine: the feed relayed through a message broker.

The feed is the outbox (DESIGN §11): :mod:`.relay` publishes its records, in seq order, to
a broker behind the small :class:`~registry.broker.base.Broker` interface, and followers
(:mod:`registry.sync.broker_follow`) take them from there instead of long-polling the
centre. :mod:`.nats` is the NATS JetStream implementation; its client library is imported
only when a broker is used, so the rest of the registry runs without one.
"""

from __future__ import annotations

from registry.broker.base import DEFAULT_PREFIX, DEFAULT_STREAM, Broker


def open_broker(url: str, stream: str = DEFAULT_STREAM, prefix: str = DEFAULT_PREFIX,
                *, connect_timeout: float = 5.0) -> Broker:
    """A connected broker for ``url`` (``nats://host:port``; ``tls://`` for TLS).

    Raises :class:`~registry.broker.base.BrokerUnavailable`, naming the URL, when nothing
    answers there within ``connect_timeout`` seconds.
    """
    from registry.broker.base import BrokerError

    scheme = url.partition("://")[0].lower()
    if scheme not in ("nats", "tls"):
        raise BrokerError(f"unsupported broker URL {url!r}: give nats://host:port "
                          "(NATS JetStream)")
    from registry.broker.nats import JetStreamBroker

    return JetStreamBroker.connect(url, stream, prefix, connect_timeout=connect_timeout)


__all__ = ["Broker", "open_broker"]
