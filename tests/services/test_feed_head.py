"""The head as last committed, read in one statement outside a transaction (the sync
server's every request asks for it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from registry.db import session_factory, transaction
from registry.services.feed import read_head, read_head_committed
from tests.conftest import Database
from tests.factories import hanoi, publish, unit


def test_the_committed_head_is_the_head_in_one_statement(pg_database: Database) -> None:
    sessions = session_factory(pg_database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    sent: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)
    event.listen(pg_database.engine, "before_cursor_execute", before)
    try:
        found = read_head_committed(pg_database.engine)
    finally:
        event.remove(pg_database.engine, "before_cursor_execute", before)
    with sessions() as session:
        assert found == read_head(session)
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("SELECT")


def test_the_committed_head_does_not_see_a_release_being_published(
        pg_database: Database) -> None:
    sessions = session_factory(pg_database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    before = read_head_committed(pg_database.engine)
    with transaction(sessions) as session:
        release = publish(session, [unit("003", "Quận Tây Hồ", "Quận", "01")])
        assert read_head_committed(pg_database.engine) == before  # not committed yet
    after = read_head_committed(pg_database.engine)
    assert after.release == release and after.seq > before.seq
