"""``registry webhook add|list|remove|deliveries|replay|run``."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from registry.cli.database import unit_of_work
from registry.cli.output import emit, out, plural
from registry.services.actors import SYSTEM
from registry.services.webhooks import deliveries, subscriptions
from registry.services.webhooks.outbox import EVENTS

webhook_app = typer.Typer(help="Webhooks: signed POSTs to local systems when something is "
                               "published or a change set moves.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="The receiver's http(s) URL.")],
    events: Annotated[str, typer.Option(help=f"Comma-separated: {', '.join(EVENTS)}.")] =
    ",".join(EVENTS),
    lists: Annotated[str | None, typer.Option(
        help="Only these lists (comma-separated keys; default: all).")] = None,
    scope: Annotated[str | None, typer.Option(
        help="Only this part of a list: LIST:CODE, or a code of admin-units (01 = Hà Nội); "
             "release.published then names only the codes in it.")] = None,
) -> None:
    """Subscribe a receiver; its signing secret is printed once."""
    with unit_of_work() as session:
        row = subscriptions.add_subscription(session, SYSTEM, url, events, lists, scope)
        summary = (f"webhook {row.id} → {row.url} ({', '.join(row.events)}; "
                   f"{', '.join(row.lists) if row.lists else 'all lists'}"
                   f"{', scope ' + row.scope if row.scope else ''})")
        secret = row.secret
    # Plain echo: a wrapped line must never split the secret.
    typer.echo(f"{summary} added; its signing secret is shown only now:")
    typer.echo(secret)


@webhook_app.command("list")
def webhook_list(all_: Annotated[bool, typer.Option("--all", help="Also removed ones.")] = False,
                 as_json: JsonOpt = False) -> None:
    """Subscriptions, with their pending and dead deliveries."""
    with unit_of_work() as session:
        data: list[dict[str, Any]] = []
        for row in subscriptions.list_subscriptions(session, all_):
            counts = {status: len(deliveries.deliveries_of(session, row.id, status, 10_000))
                      for status in (deliveries.PENDING, deliveries.DEAD)}
            data.append({"id": row.id, "url": row.url, "events": row.events,
                         "lists": row.lists, "scope": row.scope,
                         "created_at": row.created_at.isoformat(),
                         "removed_at": row.removed_at.isoformat() if row.removed_at else None,
                         **counts})

    def render() -> None:
        table = Table("id", "url", "events", "lists", "scope", "pending", "dead")
        for d in data:
            table.add_row(str(d["id"]), d["url"], ", ".join(d["events"]),
                          ", ".join(d["lists"] or []) or "all", d["scope"] or "",
                          str(d["pending"]), str(d["dead"]))
        out.print(table)

    emit(data, as_json, render)


@webhook_app.command("remove")
def webhook_remove(subscription: int) -> None:
    """Stop a subscription (its delivery log is kept)."""
    with unit_of_work() as session:
        subscriptions.remove_subscription(session, SYSTEM, subscription)
    out.print(f"webhook {subscription} removed")


@webhook_app.command("deliveries")
def webhook_deliveries(
    subscription: int,
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """A subscription's delivery log: each delivery's attempts, status codes and latency."""
    with unit_of_work() as session:
        subscriptions.get_subscription(session, subscription)
        rows = deliveries.deliveries_of(session, subscription, status, limit)
        attempts = deliveries.attempts_of(session, [row.id for row in rows])
        data: list[dict[str, Any]] = [{
                 "id": row.id, "event": row.event_id, "type": row.kind, "status": row.status,
                 "created_at": row.created_at.isoformat(),
                 "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
                 "next_attempt_at": row.next_attempt_at.isoformat()
                 if row.status == deliveries.PENDING else None,
                 "attempts": [{"at": a.at.isoformat(), "status": a.status_code,
                               "latency_ms": a.latency_ms, "error": a.error}
                              for a in attempts[row.id]]} for row in rows]

    def render() -> None:
        table = Table("delivery", "event", "type", "status", "attempts", "last answer",
                      "latency")
        for d in data:
            last = d["attempts"][-1] if d["attempts"] else None
            table.add_row(str(d["id"]), str(d["event"]), d["type"], d["status"],
                          str(len(d["attempts"])),
                          (last["error"] or str(last["status"])) if last else "",
                          f"{last['latency_ms']} ms" if last else "")
        out.print(table)

    emit(data, as_json, render)


@webhook_app.command("replay")
def webhook_replay(
    delivery: Annotated[list[int] | None, typer.Argument(help="Dead deliveries to send again."
                                                          )] = None,
    subscription: Annotated[int | None, typer.Option(
        help="Every dead delivery of this subscription.")] = None,
) -> None:
    """Send dead letters again; each gets a new retry window."""
    with unit_of_work() as session:
        count = deliveries.replay(session, SYSTEM, delivery or None, subscription)
    out.print(f"{plural(count, 'dead delivery', 'dead deliveries')} queued again")


@webhook_app.command("prune")
def webhook_prune(
    older_than: Annotated[int, typer.Option(
        "--older-than", min=1, help="Days: deliveries delivered before then go.")] = 90,
) -> None:
    """Delete old delivered deliveries with their attempts, and the events nothing refers to
    any more; pending deliveries and dead letters stay. Run it from cron."""
    from datetime import UTC, datetime, timedelta

    with unit_of_work() as session:
        done = deliveries.prune(session, SYSTEM,
                                datetime.now(UTC) - timedelta(days=older_than))
    out.print(f"pruned {plural(done.deliveries, 'delivery', 'deliveries')}, "
              f"{plural(done.attempts, 'attempt')} and {plural(done.events, 'event')}")


@webhook_app.command("run")
def webhook_run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="Subscriptions served at once (default $REGISTRY_WEBHOOK_JOBS or 8).")] =
    None,
) -> None:
    """Deliver webhooks (registry serve already does, unless REGISTRY_WEBHOOKS=0)."""
    from registry.config import load_settings
    from registry.db import make_engine, session_factory
    from registry.webhooks.worker import WebhookWorker

    with unit_of_work():
        pass  # the same checks as every command: the database exists and is migrated
    engine = make_engine(load_settings().database_url)
    worker = WebhookWorker(session_factory(engine), jobs=jobs)
    try:
        if once:
            result = worker.run_once()
            out.print(f"{plural(result.posts, 'POST')}, {result.delivered} delivered, to "
                      f"{plural(result.subscriptions, 'subscription')}")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        worker.start()
        out.print("delivering webhooks; Ctrl-C stops")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        if once:
            worker.close()
        else:
            worker.stop()
        engine.dispose()


def register(app: typer.Typer) -> None:
    """Add this interface's commands to ``app``."""
    app.add_typer(webhook_app, name="webhook")
