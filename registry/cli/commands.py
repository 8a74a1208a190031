"""Which module holds each top-level command, and its one line of help.

The command line loads only the module of the command it runs
(:class:`registry.cli.group.RegistryGroup`):
``registry --help`` lists every command from this table without importing any of them,
so it needs neither SQLAlchemy, nor the models, nor the services. The table must agree
with the commands themselves (names, order, first paragraph of help):
``tests/cli/test_lazy_commands.py`` assembles every interface's commands eagerly and
compares.

Adding a command: register it in its interface's ``register(app)`` as before, then add a
row here (the test says which row is missing or wrong).
"""

from __future__ import annotations

from typing import NamedTuple

# Every module whose ``register(app)`` adds commands, in the order the commands were
# first assembled (which is the order the help lists them in).
INTERFACES = (
    "registry.cli.entries",
    "registry.cli.changesets",
    "registry.cli.schema",
    "registry.graphql.commands",
    "registry.sync.commands",
    "registry.importers.commands",
    "registry.web.commands",
    "registry.webhooks.commands",
    "registry.broker.commands",
)


class LazyCommand(NamedTuple):
    """A top-level command: its name, what registers it, its short help.

    ``registers`` names functions that take a ``typer.Typer`` and add commands to it, in
    the order they must run: ``module`` for ``module.register``, or ``module:function``.
    """

    name: str
    registers: tuple[str, ...]
    help: str


_ENTRIES = ("registry.cli.entries",)
_CHANGESETS = ("registry.cli.changesets",)
_SCHEMA = ("registry.cli.schema",)
_GRAPHQL = ("registry.graphql.commands",)

COMMANDS = tuple(LazyCommand(*row) for row in (
    ("lists", _ENTRIES, "The code lists, with their active entry counts today."),
    ("define-lists", _ENTRIES,
     "Define new code lists (or change them) from JSON files; see docs/list-format.md."),
    ("show", _ENTRIES, "One entry as of a date, as a release said it."),
    ("history", _ENTRIES, "Every recorded version of an entry, with its release and change set."),
    ("resolve", _ENTRIES,
     "What a code denotes on a date; what it became, and where its area went."),
    ("changesets", _CHANGESETS, "Change sets, newest first."),
    ("publish", _CHANGESETS, "Publish an approved change set as one release."),
    ("verify", _SCHEMA, "Verify the feed's hash chain from the first record to the head."),
    ("serve", _GRAPHQL,
     "Serve GraphQL (/graphql, GraphiQL in a browser), /healthz, /metrics, sync and web."),
    ("graphql-schema", _GRAPHQL,
     "Print the GraphQL schema (SDL); the contract is registry/graphql/schema.graphql."),
    ("export", ("registry.importers.commands:register_export",),
     "Export a list on a date: admin units in the statistics office's layout."),
    ("convert", ("registry.importers.convert_command",),
     "Convert a whole table of old codes or addresses to the units of a date."),
    ("demo", ("registry.importers.demo",),
     "Create and migrate a database, load the bundled national lists, and serve them."),
    # One group, two interfaces: ``import changeset`` and the importers' ``import gso|csv|…``.
    ("import", (*_CHANGESETS, "registry.importers.commands:register_import"),
     "Import files as change sets."),
    ("changeset", _CHANGESETS, "Inspect and review one change set."),
    ("db", _SCHEMA, "Database schema."),
    ("feed", _SCHEMA, "The change feed replicas follow."),
    ("token", _GRAPHQL, "API tokens (stored only as hashes)."),
    ("graphql", _GRAPHQL, "GraphQL documents kept by the registry."),
    ("sync", ("registry.sync.commands",), "Replicate the registry into a local database."),
    ("webhook", ("registry.webhooks.commands",),
     "Webhooks: signed POSTs to local systems when something is published or a change set "
     "moves."),
    ("broker", ("registry.broker.commands",),
     "Relay the feed to a message broker (NATS JetStream), so that replicas take their "
     "releases from it."),
))

BY_NAME = {command.name: command for command in COMMANDS}
