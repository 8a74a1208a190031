"""Limits on what may come in, as settings with sane defaults.

Every limit is read from a ``REGISTRY_MAX_*`` environment variable so that an operator can
tighten or loosen it without a release; ``docs/security.md`` lists them with their
defaults. Limits are enforced while reading (a body is counted as it streams in, not by
its ``Content-Length``), so a lying or chunked client is held to the same bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from registry.errors import RegistryError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The bounds of one process; build with :func:`load_limits`."""

    graphql_body_bytes: int = 1 * MIB
    """A GraphQL request body (query, variables and operation name)."""
    upload_bytes: int = 20 * MIB
    """A file uploaded through the web UI (a change set, a table to convert)."""
    xlsx_uncompressed_bytes: int = 100 * MIB
    """The sum of the uncompressed sizes of an XLSX file's parts, checked before parsing."""
    json_depth: int = 64
    """How deeply a JSON document (a change-set file, a GraphQL body) may nest."""
    sync_lists: int = 100
    """How many list names a sync client may name in one request or ledger report."""
    graphql_cost: int = 25_000
    """The worst-case number of fields one GraphQL operation may resolve (read at start)."""
    graphql_depth: int = 12
    """How deeply a GraphQL operation's fields may nest (read at start)."""
    graphql_aliases: int = 30
    """How many aliases a GraphQL operation may hold, fragments expanded (read at start)."""
    graphql_tokens: int = 2_000
    """How many tokens a GraphQL document may hold, checked before parsing (read at start)."""
    graphql_persisted_bytes: int = 16 * 1024
    """The largest GraphQL document that may be registered as a persisted query (UTF-8)."""
    graphql_persisted: int = 10_000
    """How many persisted queries the database may hold; registering one more is refused."""


ENV_PREFIX = "REGISTRY_MAX_"


def env_name(field_name: str) -> str:
    """The environment variable that sets the limit ``field_name``."""
    return ENV_PREFIX + field_name.upper()


def load_limits() -> Limits:
    """The limits from the environment, the defaults where a variable is unset.

    Raises :class:`RegistryError` naming the variable when a value is not a positive integer.
    """
    values: dict[str, int] = {}
    for spec in fields(Limits):
        raw = os.environ.get(env_name(spec.name))
        if raw is None or not raw.strip():
            continue
        if not raw.strip().isdigit() or int(raw) <= 0:
            raise RegistryError(f"{env_name(spec.name)}: '{raw}' is not a positive whole "
                                "number")
        values[spec.name] = int(raw)
    return Limits(**values)
