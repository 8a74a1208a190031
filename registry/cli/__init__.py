"""The ``registry`` command line: ``app`` and ``main`` (the console script).

They are looked up on first use, so that importing :mod:`registry.cli.output` (the shared
output and one-line-error helpers every interface's commands use) does not build the whole
command line, which imports those interfaces' commands in turn.
"""

from __future__ import annotations

import sys
from typing import Any

from registry.errors import RegistryError
from registry.limits import load_limits


def main() -> None:
    """Console-script entry point (also ``python -m registry``).

    The limits are settings read when modules load (the GraphQL schema's bounds), so a bad
    ``REGISTRY_MAX_*`` value is said here, in one line, before anything imports them.
    """
    try:
        load_limits()
    except RegistryError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(2) from None
    from registry.cli import program

    program.main()


def __getattr__(name: str) -> Any:
    if name == "app":
        from registry.cli import program

        return getattr(program, name)
    raise AttributeError(f"module 'registry.cli' has no attribute {name!r}")
