"""The publish that completes change pages stores them, and the server serves those bytes
instead of building the pages while the release's followers wait."""

from __future__ import annotations

import gzip
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db import session_factory, transaction
from registry.models import FeedRecord, StoredChangePage
from registry.services import feed
from registry.sync import server as sync_server
from registry.sync import stored_changes
from registry.sync.client import SyncClient
from registry.sync.feed_pages import build_change_page
from registry.sync.protocol import PREFIX
from tests.conftest import Database
from tests.factories import hanoi, publish, unit
from tests.sync.conftest import Centre, Targets, _centre

SIZE = 5


@pytest.fixture
def paged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishers in this process page the feed by 5, as the served centre does."""
    monkeypatch.setenv("REGISTRY_SYNC_PAGE_SIZE", str(SIZE))


@pytest.fixture
def small_centre(database: Database, tmp_path: Path, paged: None) -> Iterator[Centre]:
    """A served centre on each backend, paging by 5, whose publishers page by 5 too."""
    yield from _centre(database, tmp_path, page_size=SIZE)


def _units(count: int, start: int = 0) -> list[dict[str, object]]:
    return [unit(f"2{i:04d}", f"Phường Thử {i:04d}", "Phường", "001")
            for i in range(start, start + count)]


def _stored(session: Session) -> dict[int, StoredChangePage]:
    return {row.page: row for row in session.scalars(select(StoredChangePage))}


def test_a_release_stores_the_pages_it_completes_as_the_server_builds_them(
        database: Database, paged: None) -> None:
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    with transaction(sessions) as session:
        before = feed.read_head(session)
        first_stored = _stored(session)
    with transaction(sessions) as session:
        publish(session, _units(22), "2025-02-01")
    with transaction(sessions) as session:
        head = feed.read_head(session)
        stored = _stored(session)
        completed = set(range(before.seq // SIZE, head.seq // SIZE))
        assert completed and set(stored) - set(first_stored) == completed
        for page in completed:
            row = stored[page]
            built = build_change_page(session, head, SIZE, page, canonical=True)
            assert built is not None and built.complete
            # The very bytes the server would build, and the hash of the page's last record.
            assert gzip.decompress(row.body) == built.body
            last = session.get(FeedRecord, (page + 1) * SIZE)
            assert last is not None and row.hash == last.hash == built.last_hash
            assert row.size == SIZE and row.epoch == head.epoch


def test_a_release_that_completes_no_page_stores_none(database: Database,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_PAGE_SIZE", "1000")
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
    with transaction(session_factory(database.engine)) as session:
        assert _stored(session) == {}


def test_a_release_completing_too_many_pages_leaves_them_to_be_built(
        database: Database, paged: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stored_changes, "MOST_PAGES", 2)
    sessions = session_factory(database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    with transaction(sessions) as session:
        before, kept = feed.read_head(session).seq, set(_stored(session))
        publish(session, _units(22), "2025-02-01")
    with transaction(sessions) as session:
        completed = stored_changes.completed_pages(before, feed.read_head(session).seq, SIZE)
        assert len(completed) > 2
        assert set(_stored(session)) == kept


def test_pages_of_old_releases_and_other_epochs_are_dropped(
        database: Database, paged: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stored_changes, "KEEP_RELEASES", 2)
    with transaction(session_factory(database.engine)) as session:
        hanoi(session)
    releases = []
    for n in range(3):
        with transaction(session_factory(database.engine)) as session:
            releases.append(publish(session, _units(9, 10 * n), f"2025-0{n + 2}-01"))
    with transaction(session_factory(database.engine)) as session:
        kept = {row.release_id for row in _stored(session).values()}
        assert kept == set(releases[-2:])  # the last KEEP_RELEASES releases
    with transaction(session_factory(database.engine)) as session:
        feed.new_epoch(session)
    with transaction(session_factory(database.engine)) as session:
        old = _stored(session)
        head = feed.read_head(session)
        assert old and stored_changes.load(session.connection(), head, SIZE,
                                           min(old)) is None
        publish(session, _units(9, 40), "2025-06-01")
    with transaction(session_factory(database.engine)) as session:
        assert {row.epoch for row in _stored(session).values()} == {head.epoch}


def _published(centre: Centre) -> tuple[feed.Head, dict[int, StoredChangePage]]:
    """Hà Nội and a release of 22 units published; the head and the pages stored."""
    centre.run(hanoi)
    centre.publish(_units(22), "2025-02-01")
    with transaction(centre.sessions) as session:
        return feed.read_head(session), _stored(session)


def test_the_server_serves_the_stored_bytes(small_centre: Centre) -> None:
    centre = small_centre
    head, _ = _published(centre)
    with transaction(centre.sessions) as session:
        stored = _stored(session)
        # Mark a stored page: the server must send these bytes, not build its own.
        marked = stored[3]
        body = gzip.decompress(marked.body).replace(b"Ph\xc6\xb0\xe1\xbb\x9dng Th\xe1\xbb\xad",
                                                    b"Ph\xc6\xb0\xe1\xbb\x9dng MARK")
        marked.body = gzip.compress(body)
    url = f"{centre.base}{PREFIX}/changes/{head.epoch}/{SIZE}/3?lines=canonical"
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(answer.read()) == body
        assert answer.headers["ETag"] == f'"{stored[3].hash}-c"'
    # Without gzip, the same bytes, plain.
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == body
    # The JSON-lines encoding is not stored: it is built, unmarked.
    with urllib.request.urlopen(url.replace("canonical", "json"), timeout=10) as answer:
        assert b"MARK" not in answer.read()
    # A server told not to serve stored pages builds its own, unmarked.
    centre.stop()
    centre.env["REGISTRY_SYNC_STORED_CHANGES"] = "0"
    centre.start()
    with urllib.request.urlopen(url, timeout=10) as answer:
        served = answer.read()
    assert b"MARK" not in served and served == gzip.decompress(stored[3].body).replace(
        b"MARK", "Thử".encode())


def test_a_follower_applies_stored_pages_and_verifies(small_centre: Centre,
                                                      targets: Targets) -> None:
    centre = small_centre
    centre.run(hanoi)
    client = SyncClient(centre.base, targets.new("sqlite"))
    try:
        client.pull()
        centre.publish(_units(22), "2025-02-01")
        with transaction(centre.sessions) as session:
            assert len(_stored(session)) >= 5
        result = client.pull()
        assert result.releases == 1 and result.records == 22
        assert client.verify().ok
    finally:
        client.close()


def test_a_server_paging_otherwise_builds_its_pages(small_centre: Centre,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    head, stored = _published(small_centre)
    # A server paging by 10 finds nothing stored under its size, and builds page 1.
    monkeypatch.setenv("REGISTRY_SYNC_PREBUILD", "0")
    server = sync_server.SyncServer(small_centre.sessions, page_size=10)
    built, body, _head = server.change_page(head.epoch, 1, lines="canonical")
    assert built.complete and built.last_seq == 20
    assert body.raw not in {gzip.decompress(row.body) for row in stored.values()}
    with transaction(small_centre.sessions) as session:
        expected = build_change_page(session, head, 10, 1, canonical=True)
    assert expected is not None and body.raw == expected.body
