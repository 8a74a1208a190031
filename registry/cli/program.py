"""The ``registry`` command line, assembled from the command modules of each interface.

Each command is one transaction: it commits, or changes nothing.
"""

from __future__ import annotations

import typer

from registry.cli.group import RegistryGroup, add_database_options
from registry.config import DATABASE_VARIABLE, DEFAULT_DATABASE_URL

app = typer.Typer(
    cls=RegistryGroup, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Shared reference-data registry (danh mục dùng chung).\n\n"
         f"Commands that open the database take --db (a SQLite file or a URL); without it "
         f"they use ${DATABASE_VARIABLE}, else {DEFAULT_DATABASE_URL}.")


def _register() -> None:
    from registry.broker.commands import register as register_broker
    from registry.cli import changesets, entries, schema
    from registry.graphql.commands import register as register_graphql
    from registry.importers.commands import register as register_importers
    from registry.sync.commands import register as register_sync
    from registry.web.commands import register as register_web
    from registry.webhooks.commands import register as register_webhooks

    for register in (entries.register, changesets.register, schema.register,
                     register_graphql, register_sync, register_importers, register_web,
                     register_webhooks, register_broker):
        register(app)
    add_database_options(app)


_register()


def main() -> None:
    """Console-script entry point (also ``python -m registry``): named as users type it."""
    app(prog_name="registry")
