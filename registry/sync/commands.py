"""``registry sync pull | status | verify``: the replicating client on the command line.

Exit status: 0 done; 1 error; 3 integrity fault refused (tampering, gap, fork, checksum
mismatch); 4 upgrade required; 5 the centre could not be reached.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from registry.broker.base import BrokerUnavailable
from registry.cli.database import missing_on_server, server_of
from registry.errors import RegistryError
from registry.sync.client import SyncClient, run_hook
from registry.sync.errors import FeedIntegrityError, TransportError, UpgradeRequired
from registry.sync.local_checksums import default_jobs
from registry.sync.local_store import LocalStore
from registry.sync.protocol import MAX_WAIT, parse_subscription

sync_app = typer.Typer(help="Replicate the registry into a local database.",
                       no_args_is_help=True)
out = Console()
err = Console(stderr=True)

FromOpt = Annotated[str, typer.Option("--from", help="Base URL of the registry, e.g. "
                                      "https://registry.example.gov.vn")]
IntoOpt = Annotated[str, typer.Option("--into", help="Local database URL: sqlite:///local.db, "
                                      "postgresql://…, mysql://user@host/db")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="REGISTRY_SYNC_TOKEN",
                                              help="API token (role sync) for reading and "
                                              "for reporting to the ledger.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class RateColumn(ProgressColumn):
    """Records per second."""

    def render(self, task: Any) -> Text:
        """The current rate."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rec/s" if speed else "", style="progress.data.speed")


class RichProgress:
    """Bootstrap progress as a rich bar on stderr."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def start(self, total: int, description: str) -> None:
        """Show a bar."""
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TextColumn("records"),
                             RateColumn(), TimeRemainingColumn(), console=err,
                             transient=False)
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, count: int) -> None:
        """Move the bar."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, count)

    def finish(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class _PlainFormatter(logging.Formatter):
    """One line per message, ``warning: …`` like ``error: …``, for logs and cron mail."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


def _logging(quiet: bool) -> None:
    handler: logging.Handler
    if err.is_terminal:
        # Beside the live progress bar, rich prints log lines without tearing it.
        handler = RichHandler(console=err, show_path=False, show_time=not quiet)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_PlainFormatter())
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s",
                        handlers=[handler], force=True)


def _exit_for(exc: RegistryError) -> int:
    if isinstance(exc, UpgradeRequired):
        return 4
    if isinstance(exc, FeedIntegrityError):
        return 3
    if isinstance(exc, TransportError | BrokerUnavailable):
        return 5
    return 1


def _fail(exc: RegistryError | SQLAlchemyError, into: str) -> None:
    if isinstance(exc, DBAPIError) and missing_on_server(into):
        # Named by its URL, as the command line named it, not by the driver's words.
        parsed = make_url(into)
        err.print(f"[bold red]error:[/] local database '{parsed.database}' does not exist on "
                  f"the {parsed.get_backend_name()} server {server_of(into)}; create an "
                  f"empty database of that name (CREATE DATABASE {parsed.database}) and "
                  "run again", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if isinstance(exc, SQLAlchemyError):
        # The local database itself failed (unreachable, no rights, disk full): say so
        # plainly; the transaction in progress was rolled back.
        cause = str(getattr(exc, "orig", None) or exc).strip()
        # Drivers explain on several lines; the first one says what failed.
        err.print(f"[bold red]error:[/] local database: {cause.splitlines()[0]}",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(_exit_for(exc))


@sync_app.command("pull")
def pull_cmd(
    source: FromOpt,
    into: IntoOpt,
    lists: Annotated[str | None, typer.Option("--lists", help="Comma-separated list keys "
                                              "(default: every list).")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="LIST:CODE, or a code of "
                                              "admin-units: only entries under it.")] = None,
    token: TokenOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="This replica's name in the "
                                             "centre's ledger.")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep applying releases as they "
                                         "are published.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="With --follow: ask every N "
                                            "seconds instead of long-polling.")] = 0.0,
    wait: Annotated[float, typer.Option("--wait", min=0.0, max=MAX_WAIT,
                                        help="Long-poll length in seconds.")] = 25.0,
    on_release: Annotated[str | None, typer.Option("--on-release", help="Shell command run "
                                                   "after each applied release, with its "
                                                   "changes as JSON on stdin.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only warnings "
                                        "and errors (for cron).")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Verify against the centre "
                                         "after catching up.")] = False,
    snapshot_page: Annotated[int, typer.Option("--snapshot-page", min=100, max=50000,
                                               help="Records per snapshot page.")] = 10000,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Times to try again, with "
                                         "growing pauses, when the centre cannot be reached or "
                                         "is busy (with --follow: for ever).")] = 7,
    broker: Annotated[str | None, typer.Option("--broker", help="With --follow: take releases "
                                               "from this broker (nats://host:port) instead "
                                               "of long-polling; HTTP whenever it cannot "
                                               "serve.")] = None,
    stream: Annotated[str, typer.Option("--stream", help="With --broker: the stream the "
                                        "relay publishes to.")] = "REGISTRY_FEED",
    subject_prefix: Annotated[str, typer.Option("--subject-prefix", help="With --broker: "
                                                "the relay's subject prefix.")] =
    "registry.feed",
) -> None:
    """Bootstrap a local database from the registry and bring it up to date."""
    _logging(quiet)
    if broker is not None and not follow:
        err.print("[bold red]error:[/] --broker is for following: give --follow too",
                  highlight=False)
        raise typer.Exit(2)
    try:
        subscription = (parse_subscription(lists, scope)
                        if lists is not None or scope is not None else None)
        stop = threading.Event()
        client = SyncClient(source, into, subscription=subscription, token=token, name=name,
                            on_release=run_hook(on_release) if on_release else None,
                            progress=None if quiet else RichProgress(), stop=stop,
                            retry_forever=follow, snapshot_limit=snapshot_page,
                            attempts=retries + 1)
    except (RegistryError, SQLAlchemyError) as exc:
        _fail(exc, into)
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Stop at once, even in the middle of a long poll; an open release is rolled back.
        signal.signal(sig, lambda *_: client.shutdown())
    connected = None
    try:
        if broker is not None:
            # Before anything is pulled: a broker that does not answer is a clear error.
            from registry.broker import open_broker

            connected = open_broker(broker, stream, subject_prefix)
        result = client.pull()
        if not quiet:
            what = "bootstrapped, then " if result.bootstrapped else ""
            err.print(f"{what}applied {result.releases} release(s), {result.records} records: "
                      f"at release {result.release} (seq {result.seq})", highlight=False)
        if not token and not quiet:
            # The ledger is how the centre sees its replicas; without a token it cannot.
            # Said once, after the pull, so that a failure's error stays the only line.
            err.print("warning: no token: the centre's ledger will not show this replica's "
                      "position; give --token or REGISTRY_SYNC_TOKEN (a token of role sync)",
                      highlight=False, soft_wrap=True)
        if follow and connected is not None:
            client.follow_broker(connected)
        elif follow:
            client.follow(interval=interval, wait=wait)
        if verify:
            _print_verify(client.verify(), as_json=False)
    except (RegistryError, SQLAlchemyError) as exc:
        if client.stop.is_set() and isinstance(exc, TransportError):
            return
        _fail(exc, into)
    finally:
        if connected is not None:
            connected.close()
        client.close()


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def status_data(store: LocalStore) -> dict[str, Any]:
    """The replica's position, lag (as of the last contact) and last error."""
    state = store.state()
    lag = None
    if state.head_release is not None and state.bootstrapped:
        lag = {"releases": max(state.head_release - state.release, 0),
               "records": max((state.head_seq or 0) - state.seq, 0)}
    return {"source": state.source, "epoch": state.epoch,
            "subscription": state.subscription.as_dict(), "release": state.release,
            "seq": state.seq, "hash": state.hash, "lag": lag,
            "head_release": state.head_release, "head_seq": state.head_seq,
            "bootstrapped_at": _iso(state.bootstrapped_at), "applied_at": _iso(state.applied_at),
            "last_contact": _iso(state.last_contact), "last_error": state.last_error,
            "last_error_at": _iso(state.last_error_at), "counts": store.counts(),
            "snapshot_in_progress": _stage(state.stage)}


def _stage(stage: dict[str, Any] | None) -> dict[str, Any] | None:
    if not stage:
        return None
    done = sum(v["versions"] + v["links"] for v in stage.get("counted", {}).values())
    total = sum(v["versions"] + v["links"] for v in (stage.get("declared") or {}).values())
    return {"release": stage["release"], "records": done, "of": total}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@sync_app.command("status")
def status_cmd(into: IntoOpt, as_json: JsonOpt = False) -> None:
    """The local release, its lag behind the centre (at the last contact), the last error."""
    try:
        store = LocalStore(into, create=False)
    except (RegistryError, SQLAlchemyError) as exc:
        _fail(exc, into)
        return
    try:
        data = status_data(store)
        state = store.state()
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    if not state.bootstrapped:
        out.print("not bootstrapped yet: run 'registry sync pull --from URL --into "
                  f"{into}'")
        if data["snapshot_in_progress"]:
            stage = data["snapshot_in_progress"]
            out.print(f"a snapshot of release {stage['release']} is under way: "
                      f"{stage['records']} of {stage['of']} records; 'pull' resumes it")
        if state.last_error:
            out.print(f"last error ({_ago(state.last_error_at)}): {state.last_error}",
                      highlight=False)
        raise typer.Exit(1)
    table = Table(show_header=False, box=None)
    lag = data["lag"]
    rows = [
        ("source", state.source or "—"),
        ("subscription", state.subscription.describe()),
        ("release", f"{state.release} (seq {state.seq}, applied {_ago(state.applied_at)})"),
        ("lag", "unknown" if lag is None else
         f"{lag['releases']} release(s), {lag['records']} records behind the head seen "
         f"{_ago(state.last_contact)} (release {state.head_release})"),
        ("epoch", state.epoch or "—"),
        ("last error", f"{state.last_error} ({_ago(state.last_error_at)})"
         if state.last_error else "none"),
    ]
    for key, counts in sorted(data["counts"].items()):
        rows.append((f"  {key}", f"{counts['versions']} versions, {counts['links']} links"))
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", value)
    out.print(table)


def _print_verify(report: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        for problem in report.problems:
            out.print(f"[bold red]✗[/] {problem}", highlight=False)
        for item in report.lists:
            if item.ok:
                local = item.local or {}
                out.print(f"[green]✓[/] {item.list_key}: {local.get('versions')} versions, "
                          f"{local.get('links')} links, checksum "
                          f"{str(local.get('checksum'))[:16]}…", highlight=False)
            else:
                out.print(f"[bold red]✗[/] {item.list_key}:", highlight=False)
                for problem in item.problems:
                    out.print(f"    {problem}", highlight=False)
        verdict = "identical to" if report.ok else "DIFFERENT from"
        out.print(f"release {report.release} (seq {report.seq}): this replica is {verdict} the "
                  "centre", highlight=False)
    if not report.ok:
        raise typer.Exit(3)


@sync_app.command("verify")
def verify_cmd(source: FromOpt, into: IntoOpt, token: TokenOpt = None,
               as_json: JsonOpt = False,
               lists: Annotated[str | None, typer.Option(
                   "--lists", help="Comma-separated list keys: verify only these lists of the "
                   "replica's subscription (default: all of them).")] = None,
               jobs: Annotated[int | None, typer.Option(
                   "--jobs", min=1, max=16, help="Processes that compute the checksums of "
                   "large lists (default: the cores, at most 4).")] = None) -> None:
    """Compare the local database with the centre, list by list; say exactly what differs."""
    try:
        only = None if lists is None else parse_subscription(lists, None).lists
        client = SyncClient(source, into, token=token)
    except (RegistryError, SQLAlchemyError) as exc:
        _fail(exc, into)
        return
    try:
        report = client.verify(lists=only, jobs=jobs or default_jobs())
    except (RegistryError, SQLAlchemyError) as exc:
        _fail(exc, into)
        return
    finally:
        client.close()
    _print_verify(report, as_json)


def register(app: typer.Typer) -> None:
    """Add this interface's commands to ``app``."""
    app.add_typer(sync_app, name="sync")
