"""``python -m registry.sync``: the sync commands alone, without the rest of the CLI."""

from registry.sync.commands import sync_app

sync_app(prog_name="registry sync")
