"""Change sets: ``changesets``, ``changeset show|submit|approve``, ``publish``, ``import``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from registry.cli.acting import OPERATOR, ActorOpt, TokenOpt, acting
from registry.cli.database import unit_of_work
from registry.cli.output import emit, fail, out, plural
from registry.errors import RegistryError, ValidationError

# The services (with SQLAlchemy and the models) are imported by the commands that use them.
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from registry.services.comments import Thread

changeset_app = typer.Typer(help="Inspect and review one change set.", no_args_is_help=True)
import_app = typer.Typer(help="Import files as change sets.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _comment_dict(thread: Thread) -> dict[str, Any]:
    row = thread.comment
    return {"id": row.id, "operation": row.operation_id, "author": row.author,
            "at": row.at.isoformat(), "body": row.body,
            "replies": [_comment_dict(r) for r in thread.replies]}


def _render_comments(items: list[dict[str, Any]], depth: int = 1) -> None:
    for item in items:
        on = f" on operation {item['operation']}" if item["operation"] else ""
        out.print(f"{'  ' * depth}[bold]{escape(item['author'])}[/]{on}, {item['at'][:16]}: "
                  f"{escape(item['body'])}", highlight=False)
        _render_comments(item["replies"], depth + 1)


def _change_set_dict(session: Session, cs_id: int) -> dict[str, Any]:
    from registry.cli.published import published_diff
    from registry.services import change_sets, comments

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
        "proposal_scope": cs.proposal_scope, "proposed_by": cs.proposed_by,
        "comments": [_comment_dict(t) for t in comments.threads_of(session, cs_id)],
    }
    if cs.status == "published":
        data["diff"] = published_diff(session, cs)
    elif cs.status not in ("withdrawn", "rejected"):
        data["diff"] = change_sets.preview(session, cs_id).diff()
    return data


def changesets_cmd(status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
                   mine: Annotated[bool, typer.Option(
                       "--mine", help="Only those the --token's holder wrote or proposed.")]
                   = False,
                   proposals: Annotated[bool, typer.Option(
                       "--proposals", help="Only localities' proposals.")] = False,
                   token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Change sets, newest first."""
    from registry.services import change_sets, comments

    with unit_of_work() as session:
        if mine and not token:
            raise ValidationError("token", "required", "--mine needs --token (or "
                                  "REGISTRY_TOKEN): whose change sets?")
        who = acting(session, OPERATOR, token).name if mine else None
        rows = change_sets.list_change_sets(session, status, mine=who, proposals=proposals)
        latest = comments.latest_of(session, [c.id for c in rows])
        data: list[dict[str, Any]] = [{
                 "id": c.id, "title": c.title, "status": c.status, "author": c.author,
                 "proposed_by": c.proposed_by, "proposal_scope": c.proposal_scope,
                 "legal_basis": c.legal_number, "effective_date": c.effective_date.isoformat(),
                 "release": c.release_id, "comments": latest[c.id][0] if c.id in latest else 0,
                 "last_comment": {"author": latest[c.id][1].author,
                                  "at": latest[c.id][1].at.isoformat(),
                                  "body": latest[c.id][1].body} if c.id in latest else None}
                for c in rows]

    def render() -> None:
        table = Table("id", "status")
        table.add_column("effective", no_wrap=True, min_width=10)
        for header in ("legal basis", "title", "author", "release", "last comment"):
            table.add_column(header)
        for d in data:
            author = str(d["author"]) + (f" (proposed by {d['proposed_by']})"
                                         if d["proposed_by"] else "")
            last = d["last_comment"]
            said = (f"({d['comments']}) {last['author']}: {last['body']}" if last else "")
            table.add_row(str(d["id"]), str(d["status"]), str(d["effective_date"]),
                          str(d["legal_basis"]), str(d["title"]), author,
                          str(d["release"] or ""), escape(said))
        out.print(table)

    emit(data, as_json, render)


def _render_diff(diff: dict[str, Any], limit: int = 20) -> None:
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(diff["summary"].items()))
    out.print(f"effective {diff['effective_date']} — {summary or 'no changes'}",
              highlight=False)
    for change in diff["changes"][:limit]:
        after, before = change["after"], change["before"] or {}
        fields = ", ".join(f"{f}: {before.get(f)!s} → {(after or {}).get(f)!s}" if before
                           else f for f in change["fields"] if f not in ("attributes",))
        out.print(f"  [bold]{change['kind']:8}[/] {change['list']} {change['code']} "
                  f"{(after or before)['name']}  [dim]{fields}[/]", highlight=False)
    if len(diff["changes"]) > limit:
        out.print(f"  … {plural(len(diff['changes']) - limit, 'more change')}")
    for link in diff["links"][:limit]:
        out.print(f"  link     {link['from']} → {link['to']} ({link['kind']}"
                  f"{', default' if link['default'] else ''})", highlight=False)
    if len(diff["links"]) > limit:
        out.print(f"  … {plural(len(diff['links']) - limit, 'more link')}")
    for problem in diff["errors"]:
        out.print(f"  [bold red]problem[/] {problem['field']}: {problem['message']}",
                  highlight=False)


@changeset_app.command("show")
def changeset_show(cs_id: int, as_json: JsonOpt = False) -> None:
    """A change set with its legal basis, events and diff: planned, or made when published."""
    with unit_of_work() as session:
        data = _change_set_dict(session, cs_id)

    def render() -> None:
        lb = data["legal_basis"]
        release = f" as release {data['release']}" if data["release"] else ""
        out.print(f"[bold]#{data['id']} {data['title']}[/] — {data['status']}{release}",
                  highlight=False)
        out.print(f"legal basis {lb['number']} of {lb['date']} ({lb['issuer']}), "
                  f"effective {data['effective_date']}, author {data['author']}, "
                  f"{plural(data['operations'], 'operation')}", highlight=False)
        if data["proposal_scope"]:
            by = f", proposed by {data['proposed_by']}" if data["proposed_by"] else ""
            out.print(f"a locality's proposal ({data['proposal_scope']}{by})",
                      highlight=False)
        if "diff" in data:
            _render_diff(data["diff"])
        if data["comments"]:
            out.print("comments:")
            _render_comments(data["comments"])

    emit(data, as_json, render)


@changeset_app.command("approve")
def changeset_approve(cs_id: int, actor: ActorOpt = OPERATOR, token: TokenOpt = None,
                      comment: Annotated[str | None, typer.Option()] = None) -> None:
    """Approve a submitted change set (never by its author)."""
    from registry.services import change_sets

    with unit_of_work() as session:
        who = acting(session, actor, token)
        change_sets.approve(session, who, cs_id, comment=comment)
    out.print(f"change set {cs_id} approved by {who.name}")


@changeset_app.command("submit")
def changeset_submit(cs_id: int, actor: ActorOpt = OPERATOR, token: TokenOpt = None) -> None:
    """Submit a draft for review; it must validate (and, for a proposer, stay in scope)."""
    from registry.services import change_sets

    with unit_of_work() as session:
        change_sets.submit(session, acting(session, actor, token), cs_id)
    out.print(f"change set {cs_id} submitted")


@changeset_app.command("comment")
def changeset_comment(
    cs_id: int, text: Annotated[str, typer.Argument(help="The comment.")],
    operation: Annotated[int | None, typer.Option(help="On this operation (its id).")] = None,
    reply_to: Annotated[int | None, typer.Option(help="Answer this comment (its id).")] = None,
    actor: ActorOpt = OPERATOR, token: TokenOpt = None,
) -> None:
    """Comment on a change set under review, or on one of its operations."""
    from registry.services import comments

    with unit_of_work() as session:
        row = comments.add_comment(session, acting(session, actor, token), cs_id, text,
                                   operation, reply_to)
        number = row.id
    out.print(f"comment {number} added to change set {cs_id}")


@changeset_app.command("request-changes")
def changeset_request_changes(
    cs_id: int, comment: Annotated[str, typer.Option(help="What should change.")],
    actor: ActorOpt = OPERATOR, token: TokenOpt = None,
) -> None:
    """Send a submitted change set back to its author as a draft."""
    from registry.services import change_sets

    with unit_of_work() as session:
        change_sets.request_changes(session, acting(session, actor, token), cs_id, comment)
    out.print(f"change set {cs_id} sent back to its author as a draft")


@changeset_app.command("adopt")
def changeset_adopt(cs_id: int, actor: ActorOpt = OPERATOR, token: TokenOpt = None) -> None:
    """Take over a locality's submitted proposal as its author, to amend and submit it."""
    from registry.services import change_sets

    with unit_of_work() as session:
        adopted = change_sets.adopt(session, acting(session, actor, token), cs_id)
        proposer = adopted.proposed_by
    out.print(f"change set {cs_id} adopted (proposed by {proposer}); it is a draft again")


def publish_cmd(cs_id: int, actor: ActorOpt = OPERATOR, token: TokenOpt = None) -> None:
    """Publish an approved change set as one release."""
    from registry.services import change_sets

    with unit_of_work() as session:
        release = change_sets.publish(session, acting(session, actor, token), cs_id)
    out.print(f"change set {cs_id} published as release {release}")


@import_app.command("changeset")
def import_changeset_cmd(
    file: Path,
    publish: Annotated[bool, typer.Option("--publish", help="Publish at once as the system "
                                          "administrator (official imports).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing.")]
    = False,
    author: ActorOpt = OPERATOR,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a change-set file (docs/changeset-format.md) as a draft, or publish it."""
    from registry.importers.changeset_file import dry_run as plan_file
    from registry.importers.changeset_file import import_changeset, read_changeset
    from registry.services.actors import SYSTEM

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
        actor = (acting(session, author, token) if token or not publish else SYSTEM)
        cs_id, release = import_changeset(session, actor, spec, publish=publish)
    if release:
        out.print(f"change set {cs_id} published as release {release}")
    else:
        out.print(f"change set {cs_id} created as a draft with "
                  f"{plural(len(spec.operations), 'operation')}")


def register(app: typer.Typer) -> None:
    """Add the change-set commands to ``app``."""
    app.command("changesets")(changesets_cmd)
    app.command("publish")(publish_cmd)
    app.add_typer(import_app, name="import")
    app.add_typer(changeset_app, name="changeset")
