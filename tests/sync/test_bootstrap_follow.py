"""Bootstrap then follow: after every kind of release the replica equals the centre, by
``verify``, on every centre backend and every replica backend (§9.4, §9.6, §9.11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from registry.services import queries
from registry.sync.client import ReleaseChanges, SyncClient
from registry.sync.local_store import LocalStore
from tests import processes
from tests.factories import hanoi, unit
from tests.sync.conftest import TARGETS, Centre, Targets, dump, forget_notifications

STEPS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("rename", "2025-03-01", [{"op": "rename", "list": "admin-units", "code": "00013",
                                "name": "Phường Quán Thánh Mới"}]),
    ("merge", "2025-07-01", [{"op": "merge", "list": "admin-units",
                              "sources": ["00001", "00004"],
                              "target": {"code": "00004", "name": "Phường Ba Đình",
                                         "type": "Phường", "parent": "001"}}]),
    ("split", "2025-07-01", [{"op": "split", "list": "admin-units", "source": "00037",
                              "targets": [
                                  {"code": "00037", "name": "Phường Phúc Tân", "type": "Phường",
                                   "parent": "002", "default": True, "share": 0.6},
                                  {"code": "00040", "name": "Phường Chương Dương",
                                   "type": "Phường", "parent": "002", "share": 0.4}]}]),
    ("future-dated", "2030-01-01", [{"op": "rename", "list": "admin-units", "code": "002",
                                     "name": "Quận Hoàn Kiếm Tương Lai"}]),
    ("correction", "2025-03-01", [{"op": "correct", "list": "admin-units", "code": "00013",
                                   "name": "Phường Quán Thánh Đã Sửa"}]),
    ("creates", "2025-08-01", [unit("00043", "Phường Hàng Bạc", "Phường", "002"),
                               unit("00046", "Phường Hàng Bồ", "Phường", "002")]),
    # A wrongly published district code: its whole history, and its wards', move to 009.
    ("code correction", "2025-08-01", [{"op": "correct", "list": "admin-units", "code": "001",
                                        "new_code": "009"}]),
    # The district ends with the ward merged away from it; then that ward's last name
    # before the merge is corrected: its record ends on the day its parent does, and the
    # record of its end takes the corrected name.
    ("dissolve", "2025-09-01", [{"op": "merge", "list": "admin-units",
                                 "sources": ["00004", "00013"],
                                 "target": {"code": "00004", "name": "Phường Ba Đình",
                                            "type": "Phường", "parent": "01"}},
                                {"op": "retire", "list": "admin-units", "code": "009"}]),
    ("history correction", "2025-08-15", [{"op": "correct", "list": "admin-units",
                                           "code": "00013",
                                           "name": "Phường Quán Thánh (sửa lần hai)"}]),
]
DAYS = [date(2025, 1, 1), date(2025, 3, 1), date(2025, 7, 1), date(2025, 8, 15),
        date(2025, 9, 1), date(2029, 12, 31), date(2030, 1, 1)]


def local_as_of(store: LocalStore, day: date) -> dict[str, tuple[Any, ...]]:
    """What a local application reads from the documented tables on ``day``."""
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT code, name, parent_code, status FROM registry_versions "
            "WHERE list_key = 'admin-units' AND valid_from <= :d "
            "AND (valid_to IS NULL OR valid_to > :d)"), {"d": day})
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def centre_as_of(centre: Centre, codes: list[str], day: date) -> dict[str, tuple[Any, ...]]:
    """The centre's answer through its query service."""
    found = centre.run(lambda s: queries.get_entries(s, "admin-units", codes, as_of=day))
    return {code: (v.name, v.parent, v.status) for code, v in found.items()}


def check_equal(client: SyncClient, centre: Centre) -> None:
    report = client.verify()
    assert report.ok, report.as_dict()
    codes = ["01", "001", "002", "009", "00001", "00004", "00013", "00037", "00040", "00043",
             "00046"]
    for day in DAYS:
        assert local_as_of(client.store, day) == centre_as_of(centre, codes, day), day


@pytest.mark.parametrize("target", TARGETS)
def test_bootstrap_then_follow_every_kind_of_release(centre: Centre, targets: Targets,
                                                     target: str) -> None:
    centre.run(hanoi)
    seen: list[ReleaseChanges] = []
    client = SyncClient(centre.base, targets.new(target), on_release=seen.append)
    try:
        first = client.pull()
        assert first.bootstrapped
        check_equal(client, centre)
        assert seen[-1].bootstrap
        for name, effective, ops in STEPS:
            release = centre.publish(ops, effective, title=name)
            result = client.pull()
            assert (result.release, result.releases) == (release, 1), name
            assert seen[-1].release == release and seen[-1].title == name
            assert seen[-1].versions or seen[-1].links
            check_equal(client, centre)
        # The future-dated rename is staged now, and local "as of" answers follow it.
        assert local_as_of(client.store, date(2030, 1, 1))["002"][0] == \
            "Quận Hoàn Kiếm Tương Lai"
        assert local_as_of(client.store, date(2029, 12, 31))["002"][0] == "Quận Hoàn Kiếm"
        # The history correction reached the replica, on the corrected record's interval,
        # and so did the record of the end that follows it, which took the corrected name.
        assert local_as_of(client.store, date(2025, 8, 15))["00013"] == (
            "Phường Quán Thánh (sửa lần hai)", "009", "active")
        assert local_as_of(client.store, date(2025, 9, 1))["00013"] == (
            "Phường Quán Thánh (sửa lần hai)", "009", "retired")
    finally:
        client.close()


def test_follow_applies_releases_as_they_are_published(sqlite_centre: Centre,
                                                       targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    applied: list[int] = []
    done = threading.Event()

    def on_release(changes: ReleaseChanges) -> None:
        applied.append(changes.release)
        if len(applied) >= 3:
            done.set()

    client = SyncClient(centre.base, targets.new("sqlite"), on_release=on_release)
    thread = threading.Thread(target=client.follow, kwargs={"wait": 5}, daemon=True)
    thread.start()
    try:
        wanted = []
        for name, effective, ops in STEPS[:2]:
            time.sleep(0.3)
            wanted.append(centre.publish(ops, effective, title=name))
        assert done.wait(20), applied
        assert applied[1:] == wanted
    finally:
        client.shutdown()
        thread.join(10)
    assert client.verify().ok
    client.close()


def _cli(*args: str, full: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a sync command; ``full`` goes through the main ``registry`` command line."""
    program = (["-c", "from registry.cli import main; main()", "sync"] if full
               else ["-m", "registry.sync"])
    return processes.run([sys.executable, *program, *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_command_line_pull_status_verify_and_hook(sqlite_centre: Centre, targets: Targets,
                                                  tmp_path: Path) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    hook_out = tmp_path / "hook.jsonl"
    hook = f"{sys.executable} -c \"import sys; open(r'{hook_out}', 'a').write(" \
           f"sys.stdin.read().replace(chr(10), ' ') + chr(10))\""
    done = _cli("pull", "--from", centre.base, "--into", into, "--on-release", hook, full=True)
    assert done.returncode == 0, done.stderr
    assert "bootstrapped" in done.stderr
    centre.publish(STEPS[0][2], STEPS[0][1], title="rename")
    done = _cli("pull", "--from", centre.base, "--into", into, "--quiet",
                "--on-release", hook)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    events = [json.loads(line) for line in hook_out.read_text("utf-8").splitlines()]
    assert [e["bootstrap"] for e in events] == [True, False]
    assert events[1]["title"] == "rename"
    assert [v["code"] for v in events[1]["versions"]] == ["00013", "00013"]

    status = _cli("status", "--into", into, "--json")
    data = json.loads(status.stdout)
    assert data["release"] == events[1]["release"] and data["lag"] == {"releases": 0,
                                                                       "records": 0}
    assert data["last_error"] is None
    assert "admin-units" in _cli("status", "--into", into).stdout

    verified = _cli("verify", "--from", centre.base, "--into", into)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "identical" in verified.stdout

    store = LocalStore(into)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE registry_versions SET name = 'Sai' WHERE code = '00037'"))
    store.close()
    verified = _cli("verify", "--from", centre.base, "--into", into)
    assert verified.returncode == 3
    assert "00037 valid from 2025-01-01: name is 'Sai' here, 'Phường Phúc Tân' at the " \
           "centre" in verified.stdout


def test_a_second_pull_changes_nothing(sqlite_centre: Centre, targets: Targets) -> None:
    sqlite_centre.run(hanoi)
    into = targets.new("sqlite")
    client = SyncClient(sqlite_centre.base, into)
    client.pull()
    before = dump(into)
    again = client.pull()
    assert (again.bootstrapped, again.releases, again.records) == (False, 0, 0)
    assert dump(into) == before
    client.close()


def test_releases_committed_but_not_notified_are_notified_on_restart(
        sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new("sqlite")
    client = SyncClient(centre.base, into)
    client.pull()
    first = centre.publish(STEPS[0][2], STEPS[0][1], title="rename")
    second = centre.publish(STEPS[5][2], STEPS[5][1], title="creates")
    client.pull()  # applied with no hook: as if the process died before calling it
    client.close()
    forget_notifications(into, first - 1)
    seen: list[ReleaseChanges] = []
    again = SyncClient(centre.base, into, on_release=seen.append)
    assert again.pull().releases == 0
    assert [(c.release, c.title) for c in seen] == [(first, "rename"), (second, "creates")]
    assert sorted(v["code"] for v in seen[1].versions) == ["00043", "00046"]
    assert again.store.state().notified_release == second
    again.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_replayed_release_is_read_by_its_number_not_list_by_list(
        sqlite_centre: Centre, targets: Targets, backend: str) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    into = targets.new(backend)
    client = SyncClient(centre.base, into)
    client.pull()
    first = centre.publish(STEPS[0][2], STEPS[0][1], title="rename")
    second = centre.publish(STEPS[5][2], STEPS[5][1], title="creates")
    client.pull()
    client.close()
    store = LocalStore(into)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_rest: statements.append(statement))
    try:
        with store.engine.connect() as conn:
            for release in (first, second):
                expected = sorted(tuple(row) for row in conn.execute(text(
                    "SELECT list_key, code, valid_from FROM registry_versions "
                    "WHERE recorded_release = :r"), {"r": release}))
                links = conn.execute(text("SELECT count(*) FROM registry_lineage "
                                          "WHERE release_id = :r"), {"r": release}).scalar()
                statements.clear()
                found = store.release_records(conn, release)
                assert sorted((v["list"], v["code"], str(v["valid_from"]))
                              for v in found["versions"]) == \
                    sorted((k, c, str(f)) for k, c, f in expected)
                assert expected and len(found["links"]) == links
                assert all(v["release"] == release for v in found["versions"])
                # Two reads, each of the release's rows only: before, every version of
                # each list the release touched was read into Python and filtered there.
                assert len(statements) == 2, statements
                assert "recorded_release" in statements[0] and "release_id" in statements[1]
    finally:
        store.close()


def test_a_follower_applies_a_release_that_spans_several_pages(small_page_centre: Centre,
                                                               targets: Targets) -> None:
    centre = small_page_centre
    centre.run(hanoi)
    applied: list[ReleaseChanges] = []
    done = threading.Event()

    def on_release(changes: ReleaseChanges) -> None:
        applied.append(changes)
        if len(applied) == 3:
            done.set()

    client = SyncClient(centre.base, targets.new("sqlite"), on_release=on_release)
    thread = threading.Thread(target=client.follow, kwargs={"wait": 5}, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        big = centre.publish([unit(f"{50000 + i}", f"Phường {i}", "Phường", "002")
                              for i in range(12)], "2025-08-01")  # 13 records: 3 pages
        time.sleep(0.5)
        small = centre.publish(STEPS[0][2], STEPS[0][1])
        assert done.wait(20), [c.release for c in applied]
    finally:
        client.shutdown()
        thread.join(10)
    assert [(c.release, len(c.versions)) for c in applied[1:]] == [(big, 12), (small, 2)]
    assert client.verify().ok
    client.close()
