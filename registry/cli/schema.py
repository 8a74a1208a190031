"""The database and the feed: ``db upgrade``, ``verify``, ``feed new-epoch``."""

from __future__ import annotations

from typing import Annotated

import typer

from registry.cli.database import connection_problem, missing_database, unit_of_work
from registry.cli.output import fail, out
from registry.config import load_settings
from registry.errors import RegistryError

# SQLAlchemy, the migrations and the feed service are imported by the commands that use
# them: --help needs none of them.
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
feed_app = typer.Typer(help="The change feed replicas follow.", no_args_is_help=True)


# The registry's own schema is built for these; MariaDB and MySQL hold sync replicas only.
_REGISTRY_BACKENDS = ("sqlite", "postgresql")


def _ensure_database(url: str, create: bool) -> bool:
    """Whether the server database had to be created (SQLite creates its file itself)."""
    # No type information is shipped; the functions take a URL and return plain values.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy_utils import create_database, database_exists  # type: ignore[import-untyped]

    from registry.db import is_sqlite, normalise_url, shown_url

    backend = make_url(url).get_backend_name()
    if backend not in _REGISTRY_BACKENDS:
        fail(f"database {shown_url(url)}: the registry's own database is PostgreSQL or SQLite; "
             f"{backend} can hold a replica ('registry sync pull --into …')")
    if is_sqlite(url):
        return False
    try:
        if database_exists(normalise_url(url)):
            return False
        if not create:
            fail(missing_database(url))
        create_database(normalise_url(url))
    except DBAPIError as exc:
        fail(connection_problem(url, exc))
    return True


@db_app.command("upgrade")
def db_upgrade(
    create: Annotated[bool, typer.Option(
        "--create", help="Create the PostgreSQL database first if it does not exist.")]
    = False,
) -> None:
    """Create or migrate the schema, and define the built-in code lists."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy_utils import drop_database

    from registry.db import make_engine, normalise_url, shown_url
    from registry.migrate import current_revision, upgrade

    try:
        url = load_settings().database_url
    except RegistryError as exc:
        fail(exc.message)
    created = _ensure_database(url, create)
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        release = upgrade(engine)
        after = current_revision(engine)
    except DBAPIError as exc:
        engine.dispose()
        if created:  # a failed upgrade leaves no database it made behind
            drop_database(normalise_url(url))
        fail(f"database {shown_url(url)}: the upgrade failed: {' '.join(str(exc.orig).split())}")
    finally:
        engine.dispose()
    if created:
        out.print(f"created database {shown_url(url)}", highlight=False, soft_wrap=True)
    moved = (f"schema {before or 'empty'} → {after}" if before != after
             else f"schema at {after}, up to date")
    note = f"; built-in lists published as release {release}" if release else ""
    out.print(f"{moved}{note}", highlight=False)


def verify_cmd() -> None:
    """Verify the feed's hash chain from the first record to the head."""
    from registry.services import feed

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
    from registry.services import feed

    if not yes:
        fail("this makes every replica download a new snapshot; run it after restoring a "
             "backup, with the server stopped, and confirm with --yes")
    with unit_of_work() as session:
        before, after = feed.new_epoch(session)
    out.print(f"feed verified to seq {after.seq} (release {after.release}); epoch "
              f"{before.epoch} → {after.epoch}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``db``, ``verify`` and ``feed`` to ``app``."""
    app.command("verify")(verify_cmd)
    app.add_typer(db_app, name="db")
    app.add_typer(feed_app, name="feed")
