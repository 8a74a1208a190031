"""What every command prints: results on standard output, one-line errors on standard error.

The one-line-error rules live here only: ``error: …`` naming the thing and the rule, a
non-zero exit, no traceback. Nothing here imports a command, so every interface's command
module can use these helpers without importing the command line itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from typing import Any, NoReturn

import typer
from rich.console import Console

from registry.errors import RegistryError
from registry.services.operations import parse_date

# Far wider than any line; a table still takes only the width its cells need.
_UNWRAPPED = 100_000


def _console(stderr: bool) -> Console:
    """A console that wraps to the terminal, and never hard-wraps into a log or a pipe."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=_UNWRAPPED)
    return console


out = _console(stderr=False)
err = _console(stderr=True)



def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` as one line and exit non-zero, without a traceback."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or render it for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        render()


def parse_day(value: str | None, name: str) -> date | None:
    """A ``YYYY-MM-DD`` option, strictly (``20250701`` is refused), or a one-line failure."""
    if value is None:
        return None
    try:
        return parse_date(value, name)
    except RegistryError as exc:
        fail(exc.message)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 operation``, ``2 operations``."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"
