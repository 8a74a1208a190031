"""The database a command works on: ``--db`` or ``REGISTRY_DATABASE_URL``, opened plainly.

Opening says what is wrong in one line: a SQLite file that does not exist (and is not
created), a server that refuses the connection, a database the server lacks, a database
without the registry's schema. Only the last is answered with 'registry db upgrade'.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from registry.cli.output import err, fail
from registry.config import DATABASE_VARIABLE, DEFAULT_DATABASE_URL, database_url_of, load_settings
from registry.errors import RegistryError, ValidationErrors

# SQLAlchemy is imported by the functions that open a database, not here: the command line
# imports this module for --db, and its --help must not pay for SQLAlchemy.
if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import Session

DEMO_FILE = "registry-demo.db"
DB_HELP = (f"The database: a SQLite file, or a URL (sqlite:///FILE, postgresql://…, "
           f"mysql+pymysql://…). Default: ${DATABASE_VARIABLE}, else {DEFAULT_DATABASE_URL} "
           f"(or the demo's {DEMO_FILE} where only that file exists).")


def default_url(creates: bool) -> str:
    """The database of a command given neither ``--db`` nor the variable.

    After ``registry demo`` the commands the README and the demo suggest must work as
    printed, and the demo keeps its own file so that it never loads the national lists into
    a registry of one's own: so ``registry.db`` where it exists, else the demo's file where
    that exists. A command that creates (``db upgrade``) always means ``registry.db``.
    """
    from sqlalchemy.engine import make_url

    default = make_url(DEFAULT_DATABASE_URL).database
    if not creates and default and not Path(default).exists() and Path(DEMO_FILE).exists():
        return f"sqlite:///{DEMO_FILE}"
    return DEFAULT_DATABASE_URL


def chosen_url(db: str | None, creates: bool = False) -> str:
    """The URL of ``--db`` if given, else of the variable, else the default; or fail."""
    try:
        if db is not None:
            return database_url_of(db, "--db")
        if DATABASE_VARIABLE in os.environ:
            return database_url_of(os.environ[DATABASE_VARIABLE], DATABASE_VARIABLE)
    except RegistryError as exc:
        fail(exc.message)
    return default_url(creates)


def db_hint(url: str) -> str:
    """How to name this database again on the command line, for a suggested command."""
    from sqlalchemy.engine import make_url

    from registry.db import is_sqlite, shown_url

    if is_sqlite(url):
        return f" --db {make_url(url).database}"
    return f" --db {shown_url(url)}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (``None`` for an in-memory database or another backend)."""
    from sqlalchemy.engine import make_url

    from registry.db import is_sqlite

    if not is_sqlite(url):
        return None
    name = make_url(url).database
    return Path(name) if name and name != ":memory:" else None


def require_existing(url: str) -> None:
    """Fail, creating nothing, when a SQLite file does not exist: a typo must not make one."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        fail(f"database file '{path}' does not exist; create it with 'registry db upgrade "
             f"--db {path}', or load the demo with 'registry demo'")


def connection_problem(url: str, exc: DBAPIError) -> str:
    """One line for a database that cannot be opened: missing, or its server unreachable."""
    from registry.db import shown_url

    orig = exc.orig
    if missing_on_server(url):
        return missing_database(url)
    detail = " ".join(str(orig if orig is not None else exc).split())
    return f"cannot open database {shown_url(url)}: {detail}"


def missing_database(url: str) -> str:
    """One line for a server that has no database of this name, and how to create it."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return (f"database '{parsed.database}' does not exist on the {parsed.get_backend_name()} "
            f"server {server_of(url)}; create it with "
            f"'registry db upgrade --create{db_hint(url)}'")


def server_of(url: str) -> str:
    """``host:port`` of a server database's URL, as people name the server."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host}{f':{parsed.port}' if parsed.port else ''}"


def missing_on_server(url: str) -> bool:
    """Whether a server answers that it has no database of this name."""
    # No type information is shipped; the function takes a URL and returns a bool.
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy_utils import database_exists  # type: ignore[import-untyped]

    from registry.db import is_sqlite, normalise_url

    if is_sqlite(url):
        return False
    normal = make_url(normalise_url(url))
    # database_exists answers False for a server it cannot reach: ask the server first.
    # URL.set(database=None) keeps the name; a URL is a named tuple, so replace it.
    maintenance = normal._replace(database="postgres" if normal.get_backend_name() ==
                                  "postgresql" else None)
    probe = create_engine(maintenance)
    try:
        with probe.connect():
            pass
        return not database_exists(normal)
    except DBAPIError:
        return False  # the server itself cannot be reached: said as such
    finally:
        probe.dispose()


def require_schema(url: str) -> None:
    """Fail unless the database opens and holds the registry's schema.

    A plain engine asks: the registry's own (WAL, foreign keys) would write to a SQLite file
    that turns out not to be the registry's.
    """
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import DBAPIError

    from registry.db import normalise_url, shown_url

    probe = create_engine(normalise_url(url))
    try:
        with probe.connect() as connection:
            present = inspect(connection).has_table("alembic_version")
    except DBAPIError as exc:
        fail(connection_problem(url, exc))
    finally:
        probe.dispose()
    if not present:
        fail(f"database {shown_url(url)} has no registry schema; create it with "
             f"'registry db upgrade{db_hint(url)}'")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction on the configured database; domain errors become clean exits."""
    from sqlalchemy.exc import DBAPIError

    from registry.db import make_engine, session_factory, shown_url, transaction

    try:
        url = load_settings().database_url
    except RegistryError as exc:
        fail(exc.message)
    require_existing(url)
    require_schema(url)
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    except ValidationErrors as exc:
        for problem in exc.errors[:50]:
            err.print(f"[bold red]error:[/] {problem.message}", highlight=False, soft_wrap=True)
        if len(exc.errors) > 50:
            err.print(f"… and {len(exc.errors) - 50} more problems")
        err.print("nothing was written")
        raise typer.Exit(1) from None
    except RegistryError as exc:
        fail(exc.message)
    except DBAPIError as exc:
        fail(f"database {shown_url(url)}: {' '.join(str(exc.orig).split())}")
    finally:
        engine.dispose()
