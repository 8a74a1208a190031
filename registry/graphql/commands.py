"""CLI commands of this interface: ``serve``, ``token …`` and ``graphql-schema``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from registry.services.actors import SYSTEM

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.graphql"

token_app = typer.Typer(help="API tokens (stored only as hashes).", no_args_is_help=True)
graphql_app = typer.Typer(help="GraphQL documents kept by the registry.", no_args_is_help=True)


def schema_sdl() -> str:
    """The SDL of the schema, as checked in at ``registry/graphql/schema.graphql``."""
    from registry.graphql.schema import schema

    return schema.as_str().rstrip("\n") + "\n"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve GraphQL (/graphql, GraphiQL in a browser), /healthz, /metrics, sync and web."""
    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own files; /metrics sums them across workers.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="registry-metrics-")
    uvicorn.run("registry.app:create_served_app", factory=True, host=host, port=port,
                workers=workers, log_config=None, access_log=False, proxy_headers=True,
                server_header=False)


def graphql_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write the SDL to this file.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if the checked-in SDL "
                                                        "differs from the schema.")] = False,
) -> None:
    """Print the GraphQL schema (SDL); the contract is registry/graphql/schema.graphql."""
    sdl = schema_sdl()
    if check:
        target = output or SCHEMA_FILE
        current = target.read_text("utf-8") if target.exists() else ""
        if current != sdl:
            typer.echo(f"{target} differs from the schema; run 'registry graphql-schema "
                       f"--output {target}'", err=True)
            raise typer.Exit(1)
        typer.echo(f"{target} matches the schema")
        return
    if output is None:
        sys.stdout.write(sdl)
        return
    output.write_text(sdl, "utf-8")
    typer.echo(f"wrote {output}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who the token is for; recorded as the actor.")],
    role: Annotated[str, typer.Option(
        help="reader, steward, approver, admin, proposer or sync.")],
    lists: Annotated[str | None, typer.Option(
        help="Comma-separated list keys a steward may edit (default: all).")] = None,
    scope: Annotated[str | None, typer.Option(
        help="A proposer's scope: a province or unit of admin-units (15, or "
             "admin-units:15: its units and the agencies attached to them), or a list key."
    )] = None,
) -> None:
    """Create a token; its secret is printed once and never stored."""
    from registry.cli.database import unit_of_work
    from registry.services import tokens

    keys = [k for k in (lists or "").split(",") if k.strip()] or None
    with unit_of_work() as session:
        created = tokens.create_token(session, SYSTEM, name, role, keys, scope)
    scope = (f"scope {created.scope}" if created.scope else
             ", ".join(sorted(created.lists)) if created.lists else "all lists")
    # Plain echo, not rich: a wrapped line must never split the secret or the message.
    typer.echo(f"token '{created.name}' ({created.role}, {scope}) created; its secret is "
               "shown only now:")
    typer.echo(created.secret)


@token_app.command("list")
def token_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
               ) -> None:
    """Tokens with their role, lists and use; never their secrets."""
    from registry.cli.database import unit_of_work
    from registry.cli.output import emit, out
    from registry.services import tokens

    with unit_of_work() as session:
        data: list[dict[str, Any]] = [{"name": t.name, "role": t.role, "lists": t.lists,
                 "scope": t.scope,
                 "created_at": t.created_at.isoformat(),
                 "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                 "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
                for t in tokens.list_tokens(session)]

    def render() -> None:
        table = Table("name", "role", "lists or scope", "created", "last write", "revoked")
        for d in data:
            table.add_row(d["name"], d["role"], d["scope"] or ", ".join(d["lists"] or [])
                          or "all",
                          d["created_at"][:19], (d["last_used_at"] or "")[:19],
                          (d["revoked_at"] or "")[:19])
        out.print(table)

    emit(data, as_json, render)


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token at once; requests with it are refused from now on."""
    from registry.cli.database import unit_of_work
    from registry.cli.output import out
    from registry.services import tokens

    with unit_of_work() as session:
        tokens.revoke_token(session, SYSTEM, name)
    out.print(f"token '{name}' revoked")


@graphql_app.command("persist")
def graphql_persist(
    files: Annotated[list[Path], typer.Argument(
        exists=True, dir_okay=False, readable=True,
        help="GraphQL documents (one per file), registered as persisted queries.")],
) -> None:
    """Register documents as persisted queries ahead of time and print their SHA-256.

    Clients then ask for them by hash alone (GET /graphql?extensions=…); every file is
    checked as a registration over HTTP is (size, schema, limits), all or nothing.
    """
    from rich.markup import escape

    from registry.cli.database import unit_of_work
    from registry.cli.output import fail
    from registry.graphql.persisted import PersistedError, check_document
    from registry.graphql.schema import schema
    from registry.limits import load_limits
    from registry.services import persisted_queries

    limits = load_limits()
    documents = []
    for path in files:
        text = path.read_text("utf-8")
        try:
            check_document(schema._schema, text, limits)
        except PersistedError as exc:
            fail(escape(f"{path}: {exc.reason}"))
        documents.append((path, text))
    with unit_of_work() as session:
        try:
            stored = [(path, *persisted_queries.register(session, text,
                                                         limits.graphql_persisted))
                      for path, text in documents]
        except persisted_queries.StoreFull as exc:
            fail(escape(exc.message))
    for path, key, new in stored:
        typer.echo(f"{key}  {path}{'' if new else '  (already registered)'}")


def register(app: typer.Typer) -> None:
    """Add this interface's commands to ``app``."""
    app.command("serve")(serve)
    app.command("graphql-schema")(graphql_schema)
    app.add_typer(token_app, name="token")
    app.add_typer(graphql_app, name="graphql")
