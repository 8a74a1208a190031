"""The ``registry`` command line: one group whose commands live in each interface's module.

Each command is one transaction: it commits, or changes nothing. A command's module (with
SQLAlchemy, the models and the services it needs) is imported only when that command runs;
the table of commands is :mod:`registry.cli.commands`.
"""

from __future__ import annotations

import typer

from registry.cli.group import RegistryGroup
from registry.config import DATABASE_VARIABLE, DEFAULT_DATABASE_URL


def _registry() -> None:
    # Runs before every command and does nothing: typer makes a group of a Typer only when
    # it has a callback, commands or groups, and none are registered on this one
    # (RegistryGroup finds the commands in registry.cli.commands).
    pass


app = typer.Typer(
    cls=RegistryGroup, no_args_is_help=True, pretty_exceptions_enable=False,
    callback=_registry,
    help="Shared reference-data registry (danh mục dùng chung).\n\n"
         f"Commands that open the database take --db (a SQLite file or a URL); without it "
         f"they use ${DATABASE_VARIABLE}, else {DEFAULT_DATABASE_URL}.")


def main() -> None:
    """Console-script entry point (also ``python -m registry``): named as users type it."""
    app(prog_name="registry")
