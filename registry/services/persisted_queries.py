"""Persisted GraphQL documents: looked up and registered by the SHA-256 of their text.

The interface (``registry.graphql.persisted``) checks that a document parses and validates
and that its hash is right; this module stores it, bounded in number. Functions flush and
never commit: the request or the command owns the transaction.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.errors import RegistryError
from registry.limits import env_name
from registry.models import PersistedQuery


class StoreFull(RegistryError):
    """The store holds as many documents as it may (``REGISTRY_MAX_GRAPHQL_PERSISTED``)."""

    code = "persisted_query_store_full"
    http_status = 507  # Insufficient Storage: the server's state, not the client's mistake


def digest(query: str) -> str:
    """The SHA-256 (lowercase hex) of a document's UTF-8 text, as APQ clients compute it."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def lookup(session: Session, sha256: str) -> str | None:
    """The document registered under ``sha256``, or ``None``."""
    return session.scalar(select(PersistedQuery.query).where(PersistedQuery.sha256 == sha256))


def count(session: Session) -> int:
    """How many documents are registered."""
    return int(session.scalar(select(func.count()).select_from(PersistedQuery)) or 0)


def register(session: Session, query: str, capacity: int) -> tuple[str, bool]:
    """Store ``query`` under its hash; return (hash, whether it was new).

    A document already stored is not counted against ``capacity``. Two nodes registering
    the same document at once both succeed (the second finds the first's row). The count
    is read before the insert, so concurrent registrations of different documents can pass
    the cap by a few: it bounds abuse, it is not an accounting rule.
    """
    key = digest(query)
    if lookup(session, key) is not None:
        return key, False
    if count(session) >= capacity:
        raise StoreFull(f"extensions.persistedQuery: the registry holds {capacity} persisted "
                        f"queries, its maximum ({env_name('graphql_persisted')}); send the "
                        "query text itself, or ask the operator to raise the limit")
    try:
        with session.begin_nested():
            session.add(PersistedQuery(sha256=key, query=query, created_at=datetime.now(UTC)))
    except IntegrityError:
        return key, False  # registered meanwhile by another request: the same text
    return key, True
