"""CLI commands of this interface, registered on the main `registry` app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this interface's commands to ``app``."""
