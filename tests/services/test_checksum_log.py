"""Checksums kept at publish time equal the checksums computed from the rows, at every
release, through the whole bundled history (the 2025 reform's merges, splits and code
corrections included); lists published before they were kept start from their rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, select

from registry.db import make_engine, session_factory, transaction
from registry.models import ListChecksumRow, Release
from registry.services import checksum_log
from registry.services.checksums import ListChecksum, centre_checksums, lists_at
from registry.sync.protocol import Subscription
from registry.sync.server import SyncServer
from tests.conftest import Database, Templates
from tests.factories import hanoi, keep_give_split, publish, unit


@pytest.fixture
def bundled(templates: Templates, backend: str) -> Iterator[Database]:
    url = templates.fresh_url(backend, "bundled")
    engine = make_engine(url)
    yield Database(backend, url, engine)
    engine.dispose()


def _kept(session: object, release: int) -> dict[str, ListChecksum | None]:
    return {item.key: checksum_log.checksum_at(session, release, item)  # type: ignore[arg-type]
            for item in lists_at(session, release)}  # type: ignore[arg-type]


def test_kept_checksums_equal_computed_ones_through_the_bundled_history(
        bundled: Database) -> None:
    with session_factory(bundled.engine)() as session:
        head = int(session.scalar(select(func.max(Release.id))) or 0)
        # Each release that changed a list has its row; check a spread of them and the
        # last five (the reform and its corrections) against the rows themselves.
        releases = sorted({*range(1, head + 1, max(1, head // 8)), *range(head - 4, head + 1)})
        for release in releases:
            kept = _kept(session, release)
            computed = centre_checksums(session, release)
            assert set(kept) == set(computed)
            for key, sums in computed.items():
                assert kept[key] == sums, (release, key)
        rows = session.scalar(select(func.count()).select_from(ListChecksumRow))
        assert rows and rows >= head  # every release changed at least one list


def test_a_release_adds_and_subtracts_what_it_changed(database: Database) -> None:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        first = hanoi(session)
        split = publish(session, keep_give_split(), "2025-07-01")
        renamed = publish(session, [{"op": "rename", "list": "admin-units", "code": "001",
                                     "name": "Quận Ba Đình mới"}], "2025-08-01")
    with sessions() as session:
        for release in (first, split, renamed):
            kept = _kept(session, release)
            assert kept == centre_checksums(session, release), release
        assert kept["admin-units"] is not None and kept["admin-units"].links > 0


def test_a_list_published_before_checksums_were_kept_starts_from_its_rows(
        database: Database) -> None:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        first = hanoi(session)
        second = publish(session, [unit("003", "Quận Tây Hồ", "Quận", "01")])
        session.execute(delete(ListChecksumRow))  # as a database upgraded to this version
    with sessions() as session:
        assert all(v is None for v in _kept(session, second).values())
    with transaction(sessions) as session:
        third = publish(session, [unit("004", "Quận Long Biên", "Quận", "01")])
    with sessions() as session:
        kept = _kept(session, third)
        assert kept["admin-units"] == centre_checksums(session, third)["admin-units"]
        assert kept["admin-units"] is not None and kept["admin-units"].versions == 9
        # Releases before the first kept row are still answered on demand by the server.
        assert checksum_log.checksum_at(session, first, lists_at(session, first)[0]) is None


def test_a_refused_publish_keeps_no_checksum(database: Database) -> None:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(ListChecksumRow))
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        publish(session, [unit("003", "Quận Tây Hồ", "Quận", "01")])
        raise RuntimeError("the caller fails after publishing")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ListChecksumRow)) == before


def test_the_sync_server_answers_from_the_kept_checksums(
        database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        release = hanoi(session)
    with sessions() as session:
        expected = {k: v.as_dict() for k, v in centre_checksums(session, release).items()}
        epoch = SyncServer(sessions).head().epoch

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("computed from the rows although a kept checksum exists")

    monkeypatch.setattr("registry.sync.server.centre_checksums", refuse)
    answer = SyncServer(sessions).checksums(epoch, release, Subscription())
    assert answer["lists"] == expected
