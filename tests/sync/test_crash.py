"""Crash safety (§9.6): a following client is killed with SIGKILL at random points, again
and again, while the centre keeps publishing releases that span several pages. After every
kill the replica is exactly the centre at some release (``verify``), with every release
from its snapshot on recorded once, and in the end it catches up."""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from registry.db import make_engine
from registry.sync.client import SyncClient
from registry.sync.local_store import LocalStore
from tests import processes
from tests.conftest import Database, Templates
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets, _centre

KILLS = 32
WINDOW = 0.6  # seconds: a kill comes at a random moment up to this after the start


@pytest.fixture
def crash_centre(templates: Templates, tmp_path: Path) -> Iterator[Centre]:
    """A PostgreSQL centre paging by 20 records, so most releases span pages."""
    url = templates.fresh_url("postgresql")
    engine = make_engine(url)
    yield from _centre(Database("postgresql", url, engine), tmp_path, page_size=20)
    engine.dispose()


class Publisher(threading.Thread):
    """Publishes releases of 1 to 200 records until stopped."""

    def __init__(self, centre: Centre, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.centre, self.rng = centre, rng
        self.stop = threading.Event()
        self.published = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        number = 0
        try:
            while not self.stop.is_set():
                if self.rng.random() < 0.3:
                    ops = [{"op": "rename", "list": "admin-units", "code": "00013",
                            "name": f"Phường Quán Thánh {number}"}]
                else:
                    ops = [unit(f"{40000 + number * 200 + i:05d}", f"Phường {number}-{i}",
                                "Phường", self.rng.choice(["001", "002"]))
                           for i in range(self.rng.randint(5, 199))]
                self.centre.publish(ops, "2025-02-01", title=f"batch {number}")
                number += 1
                self.published += 1
                time.sleep(self.rng.uniform(0.05, 0.3))
        except BaseException as exc:  # reported by the test
            self.error = exc


def _check(store_url: str, centre: Centre) -> int:
    """Verify the replica at its own release; return that release."""
    client = SyncClient(centre.base, store_url)
    try:
        state = client.store.state()
        if not state.bootstrapped:
            assert client.store.counts() == {}, "a half-done bootstrap is visible"
            return 0
        report = client.verify()
        assert report.ok, report.as_dict()
        with client.store.engine.connect() as conn:
            found = list(conn.scalars(text("SELECT release_id FROM registry_releases "
                                           "ORDER BY release_id")))
        assert found == list(range(found[0], state.release + 1)), "a release is missing"
        return state.release
    finally:
        client.close()


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
        crash_centre: Centre, targets: Targets) -> None:
    centre = crash_centre
    centre.run(hanoi)
    centre.publish([unit(f"{30000 + i:05d}", f"Xã {i}", "Xã", "002") for i in range(300)],
                   "2025-01-15", title="a bigger snapshot")
    seed = int(os.environ.get("REGISTRY_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    into = targets.new("sqlite")
    publisher = Publisher(centre, rng)
    publisher.start()
    releases: list[int] = []
    window = WINDOW
    args = ["pull", "--from", centre.base, "--into", into, "--follow", "--wait", "2",
            "--snapshot-page", "100"]
    log = targets.tmp / "client.log"
    # Each client is a real process forked from the tests' pre-loaded server
    # (tests/forkserver.py): started fresh, a client would mostly be killed while importing.
    try:
        for _ in range(KILLS):
            with open(log, "ab") as out:
                client = processes.popen([sys.executable, "-m", "registry.sync", *args],
                                         stdout=out, stderr=out)
            time.sleep(rng.uniform(0.03, window))
            assert client.poll() is None, log.read_text("utf-8")[-2000:]
            client.kill()
            client.wait(30)
            releases.append(_check(into, centre))
            # A loaded machine can take longer than the window to start a client and apply
            # a release: the window widens while the replica stands still, so kills keep
            # landing at random points of its work rather than all before it.
            moved = len(releases) < 2 or releases[-1] != releases[-2]
            window = WINDOW if moved else min(window * 1.5, 4.0)
            assert publisher.error is None, publisher.error
    finally:
        publisher.stop.set()
        publisher.join(30)
    print(f"releases after each kill: {releases}; {publisher.published} published")
    assert releases[-1] > 0 and releases == sorted(releases)
    assert len(set(releases)) >= 5, "the client hardly moved between kills"
    final = SyncClient(centre.base, into)
    final.pull()
    report = final.verify()
    head = final.head()
    assert report.ok and report.release == head.release
    final.close()
    store = LocalStore(into)
    assert store.state().seq == head.seq
    store.close()
