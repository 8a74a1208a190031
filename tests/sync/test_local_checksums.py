"""A replica's checksums computed by several processes equal those computed by one, and a
replica that moves while it is read is refused rather than reported different."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from registry.services.actors import SYSTEM
from registry.services.code_lists import define_lists
from registry.sync import local_checksums
from registry.sync.client import SyncClient
from registry.sync.errors import SyncError
from registry.sync.local_checksums import parallel_checksums
from registry.sync.local_store import LocalStore
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets, hanoi_replica


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_parts_summed_by_processes_equal_one_pass(sqlite_centre: Centre, targets: Targets,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  backend: str) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    centre.publish([unit(f"00{n:03d}", f"Phường {n}", "Phường", "001")
                    for n in range(100, 160)])
    into = targets.new(backend)
    client = SyncClient(centre.base, into)
    client.pull()
    client.close()
    store = LocalStore(into, create=False)
    try:
        state = store.state()
        serial = store.checksums()
        monkeypatch.setattr(local_checksums, "PARALLEL_FROM", 10)
        ranges = local_checksums._ranges(store, sorted(serial), 3)
        units = [r for r in ranges if r[0] == "admin-units"]  # three code ranges, no gap
        assert len(units) == 3 and units[0][1] is None and units[-1][2] is None
        assert units[0][2] == units[1][1] and units[1][2] == units[2][1]
        parallel = parallel_checksums(store, None, state.seq, 3)
        assert parallel == serial and parallel["admin-units"].versions == 67
        only = parallel_checksums(store, ["admin-units", "not-held"], state.seq, 2)
        assert only == {"admin-units": serial["admin-units"]}
        with pytest.raises(SyncError, match="moved from seq 1 to"):
            parallel_checksums(store, None, 1, 2)
    finally:
        store.close()


def test_verify_with_several_jobs_names_the_same_difference(
        sqlite_centre: Centre, targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    client, into = hanoi_replica(sqlite_centre, targets)
    engine = create_engine(into)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM registry_versions WHERE code = '00013'"))
    engine.dispose()
    monkeypatch.setattr(local_checksums, "PARALLEL_FROM", 2)
    try:
        one, two = client.verify(jobs=1), client.verify(jobs=2)
    finally:
        client.close()
    assert not one.ok and one.as_dict() == two.as_dict()
    assert any("00013" in p for r in two.lists for p in r.problems)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_a_checksum_reads_the_attributes_as_the_stored_text(
        centre: Centre, targets: Targets, backend: str) -> None:
    """Texts repeat and are canonicalised once each: a driver that parsed every row's JSON
    (psycopg does, for PostgreSQL's json type) made a million-version verify 1.6× as long."""
    client, _into = hanoi_replica(centre, targets, backend)
    try:
        centre.run(lambda session: define_lists(session, SYSTEM, [{
            "key": "counts", "name": "Số liệu", "code_pattern": "^\\d{2}$",
            "levels": [{"key": "item", "types": ["Mục"], "parents": []}],
            "attributes": {"population": {"type": "integer"}, "ghi_chú": {"type": "string"}},
        }]))
        centre.publish([{"op": "create", "list": "counts", "code": f"{n:02d}",
                         "name": f"Mục {n}", "type": "Mục",
                         "attributes": {"population": 10**18 + n % 2, "ghi_chú": "Đà Nẵng"}}
                        for n in range(10, 20)], "2025-03-01")
        assert client.pull().releases == 2
        with client.store.engine.connect() as conn:
            rows = list(client.store.version_rows(conn, "counts"))
        texts = [row[10] for row in rows]
        assert len(texts) == 10 and all(isinstance(t, str) for t in texts)
        assert json.loads(texts[0]) == {"population": 10**18, "ghi_chú": "Đà Nẵng"}
        assert client.verify().ok  # and the checksums agree with the centre's
    finally:
        client.close()
