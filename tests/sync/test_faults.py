"""Faults: tampering, skipped pages, gaps, replays, caches, restores, newer formats and
transient failures. Whatever arrives, a replica is either correct or unchanged (§9.3,
§9.5–9.7, §9.9)."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from registry.services import feed as feed_service
from registry.sync.client import SyncClient
from registry.sync.errors import FeedIntegrityError, UpgradeRequired
from registry.sync.local_store import LocalStore
from tests import processes
from tests.conftest import Templates
from tests.factories import hanoi, unit
from tests.sync.conftest import (
    Centre,
    Targets,
    clone_centre_database,
    cut_after_three_snapshot_pages,
    dump,
)
from tests.sync.proxy import Drop, Proxy, Reply

RENAME = [{"op": "rename", "list": "admin-units", "code": "00013",
           "name": "Phường Quán Thánh Mới"}]


def _units(prefix: str, count: int, parent: str = "002") -> list[dict[str, object]]:
    return [unit(f"{prefix}{i:03d}", f"Phường Thử {prefix}{i:03d}", "Phường", parent)
            for i in range(count)]


def _page_path(path: str) -> tuple[int, int] | None:
    """(size, page) of a change-page request path."""
    parts = path.split("?")[0].split("/")
    if len(parts) >= 7 and parts[3] == "changes":
        return int(parts[5]), int(parts[6])
    return None


@pytest.mark.parametrize("where", ["record", "chain hash"])
def test_a_page_with_one_changed_byte_is_refused_naming_the_seq(
        sqlite_centre: Centre, targets: Targets, where: str) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    direct = SyncClient(centre.base, into)
    direct.pull()
    direct.close()
    release = centre.publish(RENAME, "2025-03-01")
    seqs = centre.run(lambda s: [json.loads(r.record) for r in feed_service.iter_records(s)
                                 if r.release_id == release])
    target = next(r["seq"] for r in seqs if r.get("name") == "Phường Quán Thánh Mới")
    before = dump(into)
    proxy = Proxy(centre.base)

    def tamper(path: str, reply: Reply) -> Reply:
        if _page_path(path) is None or reply.status != 200:
            return reply
        if where == "record":
            body = reply.body.replace("Quán Thánh Mới".encode(), "Quán Thánh Mớj".encode(), 1)
            assert body != reply.body and len(body) == len(reply.body)
        else:
            head, _, rest = reply.body.partition(b"\n")
            header = json.loads(head)
            digest = header["hash"]
            flipped = ("1" if digest[10] != "1" else "2")
            header["hash"] = digest[:10] + flipped + digest[11:]
            body = json.dumps(header, separators=(",", ":")).encode() + b"\n" + rest
        return Reply(reply.status, reply.headers, body)

    proxy.rewrite = tamper
    client = SyncClient(proxy.base, into)
    try:
        with pytest.raises(FeedIntegrityError) as caught:
            client.pull()
        message = caught.value.message
        if where == "record":
            assert f"seq {target} does not match the hash the centre published" in message
        else:
            assert f"seqs {seqs[0]['seq']}–{seqs[-1]['seq']} do not hash" in message
        assert "nothing was applied" in message
        assert dump(into) == before
        assert client.store.state().last_error == message
    finally:
        client.close()
        proxy.close()
    healthy = SyncClient(centre.base, into)
    assert healthy.pull().release == release
    assert healthy.verify().ok
    assert healthy.store.state().last_error is None
    healthy.close()


def test_a_skipped_or_replayed_page_is_refused(small_page_centre: Centre,
                                               targets: Targets) -> None:
    centre = small_page_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    first = SyncClient(centre.base, into)
    first.pull()
    first.close()
    centre.publish(_units("11", 12), "2025-02-01")  # 13 records: three pages of 5
    before = dump(into)
    proxy = Proxy(centre.base)
    for shift, word in ((1, "skipped"), (-1, "misplaced")):
        def wrong_page(path: str, reply: Reply, shift: int = shift) -> Reply:
            found = _page_path(path)
            if found is None or found[1] != 2:
                return reply
            base, _, rest = path.rpartition("/")
            page = rest.partition("?")[0]
            other = f"{base}/{int(page) + shift}"
            return proxy.forward("GET", other, None, {})

        proxy.rewrite = wrong_page
        client = SyncClient(proxy.base, into)
        with pytest.raises(FeedIntegrityError) as caught:
            client.pull()
        assert "a skipped or misplaced page is refused" in caught.value.message, word
        assert dump(into) == before
        client.close()
    proxy.close()


def test_a_gap_in_the_feed_is_refused(sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    client = SyncClient(centre.base, into)
    client.pull()
    release = centre.publish(RENAME, "2025-03-01")
    missing = centre.run(lambda s: feed_service.read_head(s).seq) - 1
    with centre.engine.begin() as conn:  # a damaged centre: one record lost
        conn.execute(text("DELETE FROM feed_records WHERE seq = :s"), {"s": missing})
    before = dump(into)
    with pytest.raises(FeedIntegrityError) as caught:
        client.pull()
    assert f"seq {missing} is missing" in caught.value.message
    assert dump(into) == before
    assert client.store.state().release == release - 1
    client.close()


def test_replaying_pages_changes_nothing(small_page_centre: Centre, targets: Targets) -> None:
    centre = small_page_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    client = SyncClient(centre.base, into)
    client.pull()
    first = centre.publish(_units("12", 7), "2025-02-01")
    centre.publish(RENAME, "2025-03-01")
    centre.publish(_units("13", 4), "2025-04-01")
    client.pull()
    after = dump(into)
    # Put the cursor back to the end of ``first``: the next pull fetches and applies the
    # same pages (and the same records) a second time.
    store = LocalStore(into)
    with store.engine.begin() as conn:
        seq, digest = conn.execute(text("SELECT seq, hash FROM registry_releases "
                                        "WHERE release_id = :r"), {"r": first}).one()
        conn.execute(text("UPDATE registry_sync_state SET seq = :s, hash = :h, "
                          "release_id = :r"), {"s": seq, "h": digest, "r": first})
    store.close()
    again = client.pull()
    assert again.releases == 2
    assert dump(into) == after
    assert client.verify().ok
    client.close()


def test_pages_from_a_stale_or_wrong_cache_cannot_corrupt_a_replica(
        sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    proxy = Proxy(centre.base)
    cached: dict[str, Reply] = {}

    def broken_cache(path: str, reply: Reply) -> Reply:
        # Keeps the first answer of every URL and serves it for ever, "no-cache" or not.
        if _page_path(path) is None:
            return reply
        return cached.setdefault(path, reply)

    proxy.rewrite = broken_cache
    into = targets.new("sqlite")
    client = SyncClient(proxy.base, into)
    client.pull()
    first = centre.publish(RENAME, "2025-03-01")
    assert client.pull().release == first
    # Another replica at the same position asks "what is after the cursor": nothing. The
    # cache keeps that answer and serves it again after the next release.
    state = client.store.state()
    urllib.request.urlopen(f"{proxy.base}/sync/v1/changes/{state.epoch}/1000/0"
                           f"?lines=canonical&after={state.seq}").read()
    second = centre.publish(_units("14", 3), "2025-04-01")
    stale = client.pull()
    assert stale.release == first  # stuck on the stale answer, and still consistent:
    assert client.verify().ok
    cached.clear()
    assert client.pull().release == second
    assert client.verify().ok

    # A cache that ignores the query string serves the answer of another position.
    before = dump(into)
    third = centre.publish(_units("17", 2), "2025-05-01")
    wrong = next(reply for path, reply in cached.items() if "after=" in path)
    proxy.rewrite = lambda path, reply: wrong if _page_path(path) else reply
    with pytest.raises(FeedIntegrityError) as caught:
        client.pull()
    assert "a skipped or misplaced page is refused" in caught.value.message
    assert dump(into) == before
    proxy.rewrite = None
    assert client.pull().release == third
    client.close()
    proxy.close()


def test_a_restore_with_a_new_epoch_makes_a_clean_rebootstrap(
        centre: Centre, targets: Targets, templates: Templates, tmp_path: Path) -> None:
    centre.run(hanoi)
    centre.publish(RENAME, "2025-03-01")
    centre.stop()
    backup = clone_centre_database(templates, centre, tmp_path)
    centre.start()
    into = targets.new("sqlite")
    client = SyncClient(centre.base, into)
    client.pull()
    centre.publish(_units("15", 3), "2025-04-01")
    assert client.pull().releases == 1
    old_epoch = client.store.state().epoch
    # The operator restores the older backup and gives the feed a new epoch.
    centre.stop()
    from registry.db import make_engine, session_factory, transaction
    from registry.services.feed import new_epoch

    restored = make_engine(backup)
    with transaction(session_factory(restored)) as session:
        new_epoch(session)  # what 'registry feed new-epoch --yes' runs
    centre.url, centre.engine = backup, restored
    centre.start()
    result = client.pull()
    assert result.bootstrapped
    state = client.store.state()
    assert state.epoch != old_epoch
    assert client.verify().ok
    with client.store.engine.connect() as conn:  # what the backup never had is gone
        assert conn.scalar(text("SELECT count(*) FROM registry_versions "
                                "WHERE code LIKE '15%'")) == 0
    client.close()
    restored.dispose()


def test_a_newer_record_format_stops_with_upgrade_required(
        sqlite_centre: Centre, targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    client = SyncClient(centre.base, into)
    client.pull()
    before = dump(into)
    with monkeypatch.context() as patched:
        patched.setattr(feed_service, "RECORD_FORMAT", 2)  # what a newer centre writes
        centre.publish(RENAME, "2025-03-01")
    with pytest.raises(UpgradeRequired) as caught:
        client.pull()
    assert "upgrade required" in caught.value.message
    assert "record format 2" in caught.value.message
    assert dump(into) == before
    client.close()
    done = processes.run([sys.executable, "-m", "registry.sync", "pull", "--from",
                           centre.base, "--into", into, "--quiet"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 4
    assert "upgrade required" in done.stderr
    assert dump(into) == before


def test_transient_failures_are_retried(sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    proxy = Proxy(centre.base)
    failures = iter(["503", "drop", "slow", "502", "drop"])

    def flaky(path: str) -> Reply | None:
        failure = next(failures, None)
        if failure == "slow":
            time.sleep(1.5)  # longer than the client's timeout below
            raise Drop
        if failure == "drop":
            raise Drop
        if failure is not None:
            return Reply(int(failure), {"Content-Type": "text/plain"}, b"busy")
        return None

    proxy.before = flaky
    into = targets.new("sqlite")
    client = SyncClient(proxy.base, into)
    client.transport.base_delay = 0.05
    client.transport.timeout = 1.0
    assert client.pull().bootstrapped
    assert len(proxy.requests) > 5  # the failed attempts were made, then retried
    assert client.verify().ok
    client.close()
    proxy.close()

    # Connection refused: the centre is down when the replica starts, and comes back.
    centre.stop()
    centre.publish(RENAME, "2025-03-01")
    client = SyncClient(centre.base, into, retry_forever=True)
    client.transport.base_delay = 0.05
    client.transport.max_delay = 0.5
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(client.pull()), daemon=True)
    thread.start()
    time.sleep(1.0)
    assert not outcome
    centre.start()
    thread.join(30)
    assert outcome and outcome[0].releases == 1  # type: ignore[attr-defined]
    client.close()


def test_an_interrupted_bootstrap_resumes_and_shows_nothing_half_done(
        sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    centre.publish(_units("16", 40), "2025-02-01")
    into = targets.new("sqlite")
    proxy = Proxy(centre.base)
    store = cut_after_three_snapshot_pages(proxy, into)
    with store.engine.connect() as conn:
        # pages of 10 records: the 3 lists and 7 versions, then 10 and 10 versions
        assert conn.scalar(text("SELECT count(*) FROM registry_stage_lines")) == 27
    store.close()

    proxy.requests.clear()
    resumed = SyncClient(proxy.base, into, snapshot_limit=10)
    assert resumed.pull().bootstrapped
    snapshots = [p for p in proxy.requests if "/snapshot/" in p]
    assert "after=" in snapshots[0]  # it went on from the fourth page, not from the start
    assert len(snapshots) == 3  # the 20 versions left, and the empty page that ends it
    assert resumed.verify().ok
    with resumed.store.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM registry_stage_lines")) == 0
    resumed.close()
    proxy.close()
