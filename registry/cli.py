"""The ``registry`` command line. Each command is one transaction: it commits or changes nothing."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from registry.config import load_settings
from registry.db import make_engine, session_factory, transaction
from registry.errors import RegistryError, ValidationErrors
from registry.services import change_sets, code_lists, feed, queries
from registry.services.actors import SYSTEM, Actor
from registry.services.operations import parse_date

app = typer.Typer(help="Shared reference-data registry (danh mục dùng chung).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
import_app = typer.Typer(help="Import files as change sets.", no_args_is_help=True)
changeset_app = typer.Typer(help="Inspect and review one change set.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(changeset_app, name="changeset")
feed_app = typer.Typer(help="The change feed replicas follow.", no_args_is_help=True)
app.add_typer(feed_app, name="feed")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Valid date, YYYY-MM-DD "
                                             "(default: today in Viet Nam).")]
AtReleaseOpt = Annotated[int | None, typer.Option("--at-release",
                                                  help="Record time: answer as release N did.")]


def fail(message: str, code: int = 1) -> None:
    """Print a clear error and exit non-zero, without a traceback."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction on the configured database; domain errors become clean exits."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    except ValidationErrors as exc:
        for problem in exc.errors[:50]:
            err.print(f"[bold red]error:[/] {problem.message}", highlight=False)
        if len(exc.errors) > 50:
            err.print(f"… and {len(exc.errors) - 50} more problems")
        err.print("nothing was written")
        raise typer.Exit(1) from None
    except RegistryError as exc:
        fail(exc.message)
    except OperationalError as exc:
        fail(f"database {settings.database_url!r}: {exc.orig}. Did you run 'registry db upgrade'?")
    finally:
        engine.dispose()


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value, name)
    except RegistryError as exc:
        fail(exc.message)
    return None


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or render it for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        render()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema, and define the built-in code lists."""
    from registry.migrate import current_revision, upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        release = upgrade(engine)
        after = current_revision(engine)
    except OperationalError as exc:
        fail(f"database {settings.database_url!r}: {exc.orig}")
    finally:
        engine.dispose()
    moved = (f"schema {before or 'empty'} → {after}" if before != after
             else f"schema at {after}, up to date")
    note = f"; built-in lists published as release {release}" if release else ""
    out.print(f"{moved}{note}", highlight=False)


@app.command("lists")
def lists_cmd(as_json: JsonOpt = False) -> None:
    """The code lists, with their active entry counts today."""
    with unit_of_work() as session:
        rows = code_lists.all_lists(session)
        counts = queries.count_entries(session)
        data = [{"key": r.key, "name": r.name, "name_en": r.name_en, "owner": r.owner,
                 "entries": counts.get(r.key, 0), "release": r.release_id} for r in rows]

    def render() -> None:
        table = Table("key", "name", "entries", "owner")
        for d in data:
            table.add_row(str(d["key"]), str(d["name"]), str(d["entries"]), str(d["owner"] or ""))
        out.print(table)

    emit(data, as_json, render)


@app.command("define-lists")
def define_lists_cmd(files: list[Path]) -> None:
    """Define new code lists (or change them) from JSON files; see docs/list-format.md."""
    from registry.importers.decoding import decode_text

    definitions = []
    for path in files:
        try:
            definitions.append(json.loads(decode_text(path.read_bytes(), str(path))))
        except (OSError, json.JSONDecodeError) as exc:
            fail(f"{path}: {exc}")
    with unit_of_work() as session:
        release = code_lists.define_lists(session, SYSTEM, definitions)
    out.print(f"defined {len(definitions)} list(s) in release {release}")


def _render_entry(view: queries.EntryView) -> None:
    table = Table(show_header=False, box=None)
    for key, value in view.as_dict().items():
        table.add_row(f"[bold]{key}[/]", json.dumps(value, ensure_ascii=False)
                      if isinstance(value, dict) else str(value if value is not None else "—"))
    out.print(table)


@app.command("show")
def show_cmd(list_key: str, code: str, as_of: AsOfOpt = None, at_release: AtReleaseOpt = None,
             as_json: JsonOpt = False) -> None:
    """One entry as of a date, as a release said it."""
    day = _date(as_of, "--as-of")
    with unit_of_work() as session:
        view = queries.require_entry(session, list_key, code, day, at_release)
    emit(view.as_dict(), as_json, lambda: _render_entry(view))


@app.command("history")
def history_cmd(list_key: str, code: str, as_json: JsonOpt = False) -> None:
    """Every recorded version of an entry, with its release and change set."""
    with unit_of_work() as session:
        items = queries.history(session, list_key, code)
    data = [{**i.version.as_dict(), "legal_basis": i.legal_number, "title": i.title}
            for i in items]

    def render() -> None:
        table = Table("release", "valid from", "valid to", "status", "name", "type", "parent",
                      "superseded", "legal basis")
        for d in data:
            table.add_row(str(d["recorded_release"]), d["valid_from"], d["valid_to"] or "…",
                          d["status"], d["name"], d["type"], d["parent"] or "",
                          str(d["superseded_release"] or ""), d["legal_basis"] or "")
        out.print(table)

    emit(data, as_json, render)


@app.command("resolve")
def resolve_cmd(list_key: str, code: str, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """What a code denotes on a date; what it became, and where its area went."""
    day = _date(as_of, "--as-of")
    with unit_of_work() as session:
        result = queries.resolve(session, list_key, code, day)

    def render() -> None:
        # Printed whole (no wrapping): the lines are read by people and by scripts alike.
        def say(text: str) -> None:
            out.print(text, soft_wrap=True)

        when = result.on.isoformat()
        if result.status == "not_yet":
            say(f"{code} does not exist yet on {when}")
            return
        if result.status == "active" and result.entry:
            say(f"{code} on {when}: [bold]{result.entry.name}[/] ({result.entry.type}), active")
        else:
            old = result.entry.name if result.entry else code
            say(f"{code} ({old}) ended on {result.ended_on}; on {when} it is:")
        for s in result.successors:
            mark = "[green]default[/]" if s.is_default else "       "
            how = f"via {'+'.join(s.kinds)}" if s.kinds else "continues"
            say(f"  {mark} {s.entry.code} {s.entry.name} ({s.entry.type}) {how}"
                + (f", share {s.share:g}" if s.share else ""))
        if result.divided_on and result.ambiguous:
            say(f"[yellow]ambiguous:[/] part of its area went to other units on "
                f"{result.divided_on}; an address recorded before then may now be in one of "
                "them")
        elif result.ambiguous:
            say("[yellow]ambiguous:[/] the code was divided; the default is the usual "
                "choice, check the address to be sure")

    emit(result.as_dict(), as_json, render)


def _change_set_dict(session: Session, cs_id: int, with_diff: bool) -> dict[str, Any]:
    cs = change_sets.get_change_set(session, cs_id)
    data: dict[str, Any] = {
        "id": cs.id, "title": cs.title, "status": cs.status, "author": cs.author,
        "reviewer": cs.reviewer, "comment": cs.comment,
        "legal_basis": {"number": cs.legal_number, "date": cs.legal_date.isoformat(),
                        "issuer": cs.legal_issuer, "url": cs.legal_url},
        "effective_date": cs.effective_date.isoformat(), "release": cs.release_id,
        "version": cs.version,
        "operations": len(change_sets.operations_of(session, cs_id)),
        "events": [{"action": e.action, "actor": e.actor, "at": e.at.isoformat(),
                    "comment": e.comment} for e in change_sets.events_of(session, cs_id)],
    }
    if with_diff and cs.status not in ("published", "withdrawn", "rejected"):
        data["diff"] = change_sets.preview(session, cs_id).diff()
    return data


@app.command("changesets")
def changesets_cmd(status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
                   as_json: JsonOpt = False) -> None:
    """Change sets, newest first."""
    with unit_of_work() as session:
        rows = change_sets.list_change_sets(session, status)
        data = [{"id": c.id, "title": c.title, "status": c.status, "author": c.author,
                 "legal_basis": c.legal_number, "effective_date": c.effective_date.isoformat(),
                 "release": c.release_id} for c in rows]

    def render() -> None:
        table = Table("id", "status", "effective", "legal basis", "title", "release")
        for d in data:
            table.add_row(str(d["id"]), str(d["status"]), str(d["effective_date"]),
                          str(d["legal_basis"]), str(d["title"]), str(d["release"] or ""))
        out.print(table)

    emit(data, as_json, render)


def _render_diff(diff: dict[str, Any], limit: int = 20) -> None:
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(diff["summary"].items()))
    out.print(f"effective {diff['effective_date']} — {summary or 'no changes'}")
    for change in diff["changes"][:limit]:
        after, before = change["after"], change["before"] or {}
        fields = ", ".join(f"{f}: {before.get(f)!s} → {after.get(f)!s}" if before else f
                           for f in change["fields"] if f not in ("attributes",))
        out.print(f"  [bold]{change['kind']:8}[/] {change['list']} {change['code']} "
                  f"{after['name']}  [dim]{fields}[/]", highlight=False)
    if len(diff["changes"]) > limit:
        out.print(f"  … {len(diff['changes']) - limit} more changes")
    for link in diff["links"][:limit]:
        out.print(f"  link     {link['from']} → {link['to']} ({link['kind']}"
                  f"{', default' if link['default'] else ''})")
    if len(diff["links"]) > limit:
        out.print(f"  … {len(diff['links']) - limit} more links")
    for problem in diff["errors"]:
        out.print(f"  [bold red]problem[/] {problem['field']}: {problem['message']}",
                  highlight=False)


@changeset_app.command("show")
def changeset_show(cs_id: int, as_json: JsonOpt = False) -> None:
    """A change set with its legal basis, events and (unless published) the diff it would make."""
    with unit_of_work() as session:
        data = _change_set_dict(session, cs_id, with_diff=True)

    def render() -> None:
        lb = data["legal_basis"]
        out.print(f"[bold]#{data['id']} {data['title']}[/] — {data['status']}")
        out.print(f"legal basis {lb['number']} of {lb['date']} ({lb['issuer']}), "
                  f"effective {data['effective_date']}, author {data['author']}, "
                  f"{data['operations']} operations")
        if "diff" in data:
            _render_diff(data["diff"])

    emit(data, as_json, render)


ActorOpt = Annotated[str, typer.Option("--actor", envvar="REGISTRY_ACTOR",
                                       help="Who acts (recorded in the audit trail).")]


@changeset_app.command("approve")
def changeset_approve(cs_id: int, actor: ActorOpt = "system",
                      comment: Annotated[str | None, typer.Option()] = None) -> None:
    """Approve a submitted change set (never by its author)."""
    with unit_of_work() as session:
        change_sets.approve(session, Actor(actor, "admin"), cs_id, comment=comment)
    out.print(f"change set {cs_id} approved by {actor}")


@changeset_app.command("submit")
def changeset_submit(cs_id: int, actor: ActorOpt = "system") -> None:
    """Submit a draft for review; it must validate."""
    with unit_of_work() as session:
        change_sets.submit(session, Actor(actor, "admin"), cs_id)
    out.print(f"change set {cs_id} submitted")


@app.command("publish")
def publish_cmd(cs_id: int, actor: ActorOpt = "system") -> None:
    """Publish an approved change set as one release."""
    with unit_of_work() as session:
        release = change_sets.publish(session, Actor(actor, "admin"), cs_id)
    out.print(f"change set {cs_id} published as release {release}")


@import_app.command("changeset")
def import_changeset_cmd(
    file: Path,
    publish: Annotated[bool, typer.Option("--publish", help="Publish at once as the system "
                                          "administrator (official imports).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing.")]
    = False,
    author: ActorOpt = "system",
    as_json: JsonOpt = False,
) -> None:
    """Import a change-set file (docs/changeset-format.md) as a draft, or publish it."""
    from registry.importers.changeset_file import dry_run as plan_file
    from registry.importers.changeset_file import import_changeset, read_changeset

    try:
        spec = read_changeset(file)
    except RegistryError as exc:
        fail(exc.message)
    with unit_of_work() as session:
        if dry_run:
            diff = plan_file(session, spec).diff()
            emit(diff, as_json, lambda: _render_diff(diff))
            session.rollback()
            if diff["errors"]:
                raise typer.Exit(1)
            return
        actor = SYSTEM if publish else Actor(author, "admin")
        cs_id, release = import_changeset(session, actor, spec, publish=publish)
    if release:
        out.print(f"change set {cs_id} published as release {release}")
    else:
        out.print(f"change set {cs_id} created as a draft with {len(spec.operations)} operations")


@app.command("verify")
def verify_cmd() -> None:
    """Verify the feed's hash chain from the first record to the head."""
    with unit_of_work() as session:
        head = feed.verify_feed(session)
    out.print(f"feed verifies: epoch {head.epoch}, seq {head.seq}, release {head.release}, "
              f"hash {head.hash[:16]}…")


@feed_app.command("new-epoch")
def feed_new_epoch(
    yes: Annotated[bool, typer.Option("--yes", help="Do it: every replica will take a new "
                                      "snapshot.")] = False,
) -> None:
    """After restoring the centre from a backup: verify the feed, then give it a new epoch.

    Replicas may already hold releases the backup lacks. With a new epoch they bootstrap
    again instead of merging two histories. Stop 'registry serve' first.
    """
    if not yes:
        fail("this makes every replica download a new snapshot; run it after restoring a "
             "backup, with the server stopped, and confirm with --yes")
    with unit_of_work() as session:
        before, after = feed.new_epoch(session)
    out.print(f"feed verified to seq {after.seq} (release {after.release}); epoch "
              f"{before.epoch} → {after.epoch}", highlight=False)


def _register_interfaces() -> None:
    from registry.graphql.commands import register as register_graphql
    from registry.importers.commands import register as register_importers
    from registry.sync.commands import register as register_sync
    from registry.web.commands import register as register_web

    for register in (register_graphql, register_sync, register_importers, register_web):
        register(app)


_register_interfaces()


def main() -> None:
    """Console-script entry point."""
    app()
