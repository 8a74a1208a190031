"""``registry demo``: a database with the national lists, served, in one command.

The port is checked before anything is created or printed: a demo that cannot serve
leaves nothing behind and says so in one line.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from registry.cli.database import DEMO_FILE

DEFAULT_DEMO_DB = DEMO_FILE


EXAMPLE_QUERIES = (
    ("What did my old commune become? (00013, Phường Quán Thánh, Hà Nội)",
     '{ resolve(list: "admin-units", code: "00013", asOf: "2025-07-01") '
     "{ status successors { isDefault entry { code name type } } } }"),
    ("The provinces on 1 July 2025",
     '{ entries(list: "admin-units", level: "province", asOf: "2025-07-01", first: 50) '
     "{ edges { node { code name type } } } }"),
    ("Search without diacritics, before the reform",
     '{ entries(list: "admin-units", search: "ba dinh", asOf: "2025-06-30", first: 10) '
     "{ edges { node { code name type parent { code name } } } } }"),
)


def _demo_url(db: Path | None) -> str:
    from registry.cli.output import fail
    from registry.config import DATABASE_VARIABLE, database_url_of
    from registry.errors import RegistryError

    if db is not None:
        return f"sqlite:///{db}"
    try:
        return database_url_of(os.environ.get(DATABASE_VARIABLE) or DEFAULT_DEMO_DB,
                               DATABASE_VARIABLE)
    except RegistryError as exc:
        fail(exc.message)


def db_option(url: str) -> str:
    """The ``--db`` that the commands the demo suggests need: none where they find it anyway."""
    from registry.cli.database import chosen_url, db_hint

    return "" if chosen_url(None) == url else db_hint(url)


def demo_cmd(
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file (default: "
                                            f"./{DEFAULT_DEMO_DB}, or REGISTRY_DATABASE_URL)."
                                            )] = None,
    host: Annotated[str, typer.Option("--host", help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load the data and exit.")]
    = False,
) -> None:
    """Create and migrate a database, load the bundled national lists, and serve them."""
    from sqlalchemy.exc import DBAPIError

    from registry.cli.database import connection_problem
    from registry.cli.network import require_free_port
    from registry.cli.output import err, fail, out, plural
    from registry.config import DATABASE_VARIABLE, load_settings
    from registry.db import make_engine, session_factory, transaction
    from registry.errors import RegistryError
    from registry.importers.bundled_load import load_with_progress
    from registry.migrate import upgrade
    from registry.services import queries

    url = _demo_url(db)
    if not no_serve:
        require_free_port(host, port)
    out.print(f"database: {url}", highlight=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        report = load_with_progress(engine, err)
        with transaction(session_factory(engine)) as session:
            counts = queries.count_entries(session, date(2025, 7, 1))
            release = queries.latest_release(session)
    except DBAPIError as exc:
        fail(connection_problem(url, exc))
    except RegistryError as exc:
        fail(f"database {url!r}: {exc.message} (remove it, or give another --db)")
    finally:
        engine.dispose()
    if report.published:
        out.print(f"loaded {plural(len(report.published), 'change set')} "
                  f"({plural(report.operations, 'operation')}) in {report.seconds:.1f} s",
                  highlight=False)
    else:
        out.print(f"all {report.skipped} bundled change sets were already loaded: reusing "
                  "the database", highlight=False)
    out.print(f"release {release}; entries on 2025-07-01: " + ", ".join(
        f"{key} {n}" for key, n in sorted(counts.items())), highlight=False)
    if no_serve:
        return
    # The served app and anything it starts read the database from the variable.
    os.environ[DATABASE_VARIABLE] = url
    _serve(replace(load_settings(), database_url=url), host, port, db_option(url))


def _serve(settings: Any, host: str, port: int, db: str) -> None:
    import uvicorn

    from registry.app import create_app
    from registry.cli.output import out

    app = create_app(settings)
    # A mounted UI at the root has the path "" in Starlette.
    paths = {path or "/" for route in app.routes
             if (path := getattr(route, "path", None)) is not None}
    base = f"http://{host}:{port}"
    out.print(f"\n[bold]serving[/] {base}", highlight=False)
    # Only what this installation serves: the web UI and the feed are separate parts.
    for label, path in (("GraphQL  ", "/graphql"), ("sync feed", "/sync/v1/head"),
                        ("web UI   ", "/")):
        if path in paths:
            out.print(f"  {label} {base}{path}", highlight=False)
    out.print("\n[bold]try these queries[/] at /graphql:")
    for title, query in EXAMPLE_QUERIES:
        out.print(f"  # {title}", highlight=False)
        out.print(f"  {query}\n", highlight=False, soft_wrap=True)
    out.print("or, on the command line: registry resolve admin-units 00013 --as-of 2025-07-01"
              f"{db}", highlight=False, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo_cmd)
