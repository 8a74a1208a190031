"""``registry broker relay``: publish the centre's feed to a message broker."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from typing import Annotated

import typer
from rich.console import Console

from registry.broker.base import DEFAULT_PREFIX, DEFAULT_STREAM, BrokerUnavailable

broker_app = typer.Typer(help="Relay the feed to a message broker (NATS JetStream), so that "
                              "replicas take their releases from it.", no_args_is_help=True)
err = Console(stderr=True)

UrlOpt = Annotated[str, typer.Option("--url", help="The broker, e.g. nats://127.0.0.1:4222")]
StreamOpt = Annotated[str, typer.Option("--stream", help="The JetStream stream that holds "
                                        "the feed.")]
PrefixOpt = Annotated[str, typer.Option("--subject-prefix", help="Records go to "
                                        "PREFIX.<list key>; release markers to "
                                        "PREFIX._release.")]


@broker_app.command("relay")
def relay_cmd(
    url: UrlOpt = "nats://127.0.0.1:4222",
    stream: StreamOpt = DEFAULT_STREAM,
    prefix: PrefixOpt = DEFAULT_PREFIX,
    poll: Annotated[float, typer.Option("--poll", min=0.01, max=60.0, help="Seconds between "
                                        "reads of the head without notifications (SQLite, "
                                        "or the listening connection down).")] = 0.2,
    once: Annotated[bool, typer.Option("--once", help="Publish what the feed holds now, "
                                       "then exit.")] = False,
    metrics_port: Annotated[int, typer.Option("--metrics-port", min=0, max=65535,
                                              help="Serve Prometheus metrics on this port "
                                              "(0: none).")] = 0,
) -> None:
    """Publish the feed's records in seq order to the broker, resuming after the last
    record the stream holds; one JSON log line per release."""
    from registry.broker import open_broker
    from registry.broker.relay import Relay
    from registry.cli.database import unit_of_work
    from registry.config import load_settings
    from registry.db import make_engine
    from registry.errors import RegistryError

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr,
                        force=True)
    with unit_of_work():
        pass  # the same checks as every command: the database exists and is migrated
    try:
        broker = open_broker(url, stream, prefix)
    except RegistryError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(5 if isinstance(exc, BrokerUnavailable) else 1) from None
    engine = make_engine(load_settings().database_url)
    relay = Relay(engine, broker, poll=poll, listen=not once)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    try:
        if once:
            relay.run_once()
            err.print(f"published {relay.stats.published} record(s) "
                      f"({relay.stats.duplicates} already held) to stream {stream}: "
                      f"at seq {relay.position}", highlight=False)
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: relay.shutdown())
        with contextlib.suppress(KeyboardInterrupt):
            relay.run()
    except RegistryError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(5 if isinstance(exc, BrokerUnavailable) else 1) from None
    finally:
        broker.close()
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add this interface's commands to ``app``."""
    app.add_typer(broker_app, name="broker")
