"""The ``registry`` command line: ``app`` and ``main`` (the console script).

They are looked up on first use, so that importing :mod:`registry.cli.output` (the shared
output and one-line-error helpers every interface's commands use) does not build the whole
command line, which imports those interfaces' commands in turn.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "main"):
        from registry.cli import program

        return getattr(program, name)
    raise AttributeError(f"module 'registry.cli' has no attribute {name!r}")
