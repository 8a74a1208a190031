"""What a follower's usual delta, of one release, costs the centre: five statements (the
head, the release's end, the lists, the release's records, the touched list's checksum
after it; the one before it was read for the previous delta and is kept)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from registry.db import session_factory
from registry.services.feed import read_head
from registry.sync.codec import decode_header
from registry.sync.protocol import parse_subscription
from registry.sync.server import SyncServer
from tests.factories import unit
from tests.sync.conftest import Centre

ADMIN_UNITS = parse_subscription("admin-units", None)


def _rename(centre: Centre, name: str) -> int:
    centre.publish([{"op": "rename", "list": "admin-units", "code": "01", "name": name}],
                   "2025-07-01")
    with centre.sessions() as session:
        return read_head(session).release


def test_a_delta_of_one_release_takes_five_statements(centre: Centre) -> None:
    centre.publish([unit("01", "Thành phố Hà Nội", "Thành phố Trung ương")])
    server = SyncServer(session_factory(centre.engine))
    first = _rename(centre, "Hà Nội 2")
    with centre.sessions() as session:
        epoch = read_head(session).epoch
    server.delta(epoch, first, ADMIN_UNITS, first)  # the checksum after it is kept
    release = _rename(centre, "Hà Nội 3")
    statements: list[str] = []

    def count(*args: Any) -> None:
        if args[2] != "BEGIN":  # SQLite's explicit transaction start is not a query
            statements.append(str(args[2]))

    event.listen(centre.engine, "before_cursor_execute", count)
    try:
        body = server.delta(epoch, release, ADMIN_UNITS, release)
    finally:
        event.remove(centre.engine, "before_cursor_execute", count)
    header, _ = decode_header(body.raw, "test")
    assert header["release"] == release and set(header["checksums"]) == {"admin-units"}
    assert len(statements) == 5, statements
