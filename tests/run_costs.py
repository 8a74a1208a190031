"""Costs the suite would otherwise pay again in each of its hundreds of processes.

- **Bytecode.** With ``PYTHONDONTWRITEBYTECODE`` set (common on build machines) every
  process compiles every registry module it imports from source, and every test worker
  rewrites the assertions of every test module again. The run compiles the package once,
  before the workers start, and lets pytest keep its rewritten test modules; the caches
  go to ``__pycache__`` folders, which git ignores.
- **TLS contexts.** httpx builds a TLS context for every client it makes, reading the whole
  CA bundle (about 20 ms of CPU), even for a client that only speaks plain HTTP to
  loopback; the tests make thousands. Clients with the same TLS settings share one
  context, which httpx allows (a context may be passed as ``verify``).
"""

from __future__ import annotations

import compileall
import functools
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def compile_once(config: pytest.Config) -> None:
    """Compile ``registry/`` and the test helpers, in the controller only (workers and
    the processes they start then load the bytecode)."""
    sys.dont_write_bytecode = False  # pytest caches rewritten test modules only then
    if hasattr(config, "workerinput"):
        return
    for folder in ("registry", "tests"):
        compileall.compile_dir(ROOT / folder, quiet=1, workers=1)


def share_tls_contexts() -> None:
    """One TLS context per distinct (verify, cert, trust_env) for every httpx client."""
    from httpx._transports import default

    made = getattr(default, "create_ssl_context", None)
    if made is not None and not hasattr(made, "cache_info"):
        default.create_ssl_context = functools.cache(made)  # type: ignore[attr-defined]
