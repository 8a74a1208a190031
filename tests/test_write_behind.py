"""Write-behind: queued writes land in the caller's transaction, and their errors surface."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg.errors import UniqueViolation
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.models import ApiToken
from registry.models.base import table_of
from registry.write_behind import DEPTH, WriteBehind

TOKENS = table_of(ApiToken)


def _tokens(start: int, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [{"name": f"t{i}", "role": "reader", "lists": None, "token_hash": f"{i:064d}",
             "created_at": now} for i in range(start, start + count)]


def test_queued_inserts_and_statements_land_in_order(session: Session) -> None:
    with WriteBehind(session) as writes:
        for batch in range(DEPTH * 3):  # more batches than the queue holds
            writes.insert(TOKENS, _tokens(batch * 10, 10))
        writes.execute(update(TOKENS).where(TOKENS.c.name == "t5").values(role="admin"))
    assert session.scalar(select(func.count()).select_from(TOKENS)) == DEPTH * 30
    assert session.scalar(select(TOKENS.c.role).where(TOKENS.c.name == "t5")) == "admin"


def test_an_error_in_a_queued_write_is_raised_to_the_caller(session: Session) -> None:
    writes = WriteBehind(session)
    # COPY on PostgreSQL reports the driver's error; SQLite's comes through SQLAlchemy. On
    # SQLite the writes run in line, so the failing insert itself raises.
    with pytest.raises((IntegrityError, UniqueViolation), match=r"(?i)unique|duplicate"):
        writes.insert(TOKENS, _tokens(0, 3))
        writes.insert(TOKENS, _tokens(2, 3))  # t2 again: unique name
        for _ in range(DEPTH * 2):  # on PostgreSQL, a later submission or close reports it
            writes.insert(TOKENS, _tokens(100, 1))
        writes.close()
    writes.close()  # reported once; closing again is harmless
    with pytest.raises(RuntimeError, match="earlier queued write failed"):
        writes.insert(TOKENS, _tokens(200, 1))  # not silently dropped


def test_the_callers_own_error_wins_and_the_worker_stops(session: Session) -> None:
    with pytest.raises(KeyError, match="building"), WriteBehind(session) as writes:
        writes.insert(TOKENS, _tokens(0, 3))
        raise KeyError("building the next batch")
    assert writes._worker is None  # joined, not left running on the connection
