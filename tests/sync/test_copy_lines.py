"""Snapshot versions as COPY text lines (``lines=copy``), which PostgreSQL replicas ask for
and pass to COPY as they are, and the first bootstrap that makes the staged versions the
live table instead of copying them across."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import create_engine

from registry.db import session_factory, transaction
from registry.errors import FeedIntegrityError
from registry.services.feed import read_head
from registry.sync import bootstrap
from registry.sync.client import SyncClient
from registry.sync.codec import copy_line
from registry.sync.protocol import COPY_VERSION_COLUMNS, Subscription
from registry.sync.server import SyncServer
from tests.conftest import Database
from tests.factories import hanoi, publish, unit
from tests.sync.conftest import Centre, Targets, cut_after_three_snapshot_pages, dump
from tests.sync.proxy import Proxy, Reply, repage

# What COPY's text format reads specially and a name may hold: a backslash, and the two
# characters of its null marker; beside quotes and Vietnamese, which JSON escapes.
AWKWARD = "Phường \"Ngã Tư\" \\N Sở “mới” \\"
# Tab, newline and carriage return, which no name published today may hold (the services
# refuse control characters), but rows written before that rule may.
CONTROL = "Phường\tTab\nNew\rline \\N"


def _write_directly(centre: Centre, code: str, name: str) -> None:
    with centre.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE entry_versions SET name = %(n)s WHERE code = %(c)s"
                             if centre.backend == "postgresql" else
                             "UPDATE entry_versions SET name = :n WHERE code = :c",
                             {"n": name, "c": code})


def _get(url: str) -> tuple[dict[str, Any], list[bytes]]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        head, _, body = answer.read().partition(b"\n")
    return json.loads(head), body.split(b"\n")[:-1]


def _oid(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT '{table}'::regclass::oid").scalar_one())
    finally:
        engine.dispose()


def test_copy_lines_escape_what_copy_reads_specially(centre: Centre) -> None:
    centre.run(hanoi)
    release = centre.publish([unit("00099", AWKWARD, "Phường", "001")])
    epoch = json.load(urllib.request.urlopen(f"{centre.base}/sync/v1/head"))["epoch"]
    header, lines = _get(f"{centre.base}/sync/v1/snapshot/{epoch}/{release}?lines=copy")
    assert header["copy"] == list(COPY_VERSION_COLUMNS)
    copied = [line for line in lines if not line.startswith(b"[")]
    assert len(copied) == 8 and all(line.count(b"\t") == 13 for line in copied)
    awkward = next(line for line in copied if b"\t00099\t" in line)
    fields = awkward.decode().split("\t")
    assert fields[5] == "Phường \"Ngã Tư\" \\\\N Sở “mới” \\\\"
    assert fields[3] == "\\N" and fields[1] == "00099" and fields[0] == "admin-units"
    json_header, json_lines = _get(f"{centre.base}/sync/v1/snapshot/{epoch}/{release}")
    assert "copy" not in json_header and all(line.startswith(b"[") for line in json_lines)
    assert json_header["lists"] == header["lists"] and len(json_lines) == len(lines)


def test_tab_newline_and_carriage_return_in_old_rows_reach_a_postgresql_replica(
        centre: Centre, targets: Targets) -> None:
    centre.run(hanoi)
    release = centre.publish([unit("00099", "Phường Mới", "Phường", "001")])
    _write_directly(centre, "00099", CONTROL)
    epoch = json.load(urllib.request.urlopen(f"{centre.base}/sync/v1/head"))["epoch"]
    _, lines = _get(f"{centre.base}/sync/v1/snapshot/{epoch}/{release}?lines=copy")
    line = next(line for line in lines if b"\t00099\t" in line)
    assert line.decode().split("\t")[5] == "Phường\\tTab\\nNew\\rline \\\\N"
    into = targets.new("postgresql")
    client = SyncClient(centre.base, into)
    try:
        assert client.pull().bootstrapped
        with client.store.engine.connect() as conn:
            name = conn.exec_driver_sql(
                "SELECT name FROM registry_versions WHERE code = '00099'").scalar_one()
        assert name == CONTROL
    finally:
        client.close()


def test_copy_line_writes_nulls_and_escapes() -> None:
    assert copy_line(["a\\b", None, "t\tn\nr\r", 7, "\\N"]) == \
        "a\\\\b\t\\N\tt\\tn\\nr\\r\t7\t\\\\N"


def test_an_unknown_line_encoding_is_refused_naming_the_parameter(centre: Centre) -> None:
    centre.run(hanoi)
    epoch = json.load(urllib.request.urlopen(f"{centre.base}/sync/v1/head"))["epoch"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{centre.base}/sync/v1/snapshot/{epoch}/1?lines=csv")
    assert caught.value.code == 400
    problem = json.loads(caught.value.read())
    assert "lines" in json.dumps(problem) and "json, copy" in json.dumps(problem)


def test_a_postgresql_replica_takes_copy_lines_and_the_stage_becomes_its_table(
        centre: Centre, targets: Targets) -> None:
    centre.run(hanoi)
    centre.publish([unit("00099", AWKWARD, "Phường", "001")])
    proxy = Proxy(centre.base)
    into = targets.new("postgresql")
    client = SyncClient(proxy.base, into)
    try:
        client.store.state()  # the replica's tables are made on first use
        live = _oid(into, "registry_versions")
        assert client.pull().bootstrapped
        assert client.verify().ok
        asked = [path for path in proxy.requests if "/snapshot/" in path]
        assert asked and all("lines=copy" in path for path in asked)
        with client.store.engine.connect() as conn:
            name = conn.exec_driver_sql(
                "SELECT name FROM registry_versions WHERE code = '00099'").scalar_one()
            staged = conn.exec_driver_sql(
                "SELECT count(*) FROM registry_stage_versions").scalar_one()
        assert name == AWKWARD and staged == 0
        # The live table is the one the pages were copied into, not a copy of it.
        assert _oid(into, "registry_versions") != live
    finally:
        client.close()
        proxy.close()


def test_a_view_on_the_versions_keeps_its_table_and_sees_the_snapshot(
        sqlite_centre: Centre, targets: Targets) -> None:
    sqlite_centre.run(hanoi)
    into = targets.new("postgresql")
    client = SyncClient(sqlite_centre.base, into)
    try:
        with client.store.engine.begin() as conn:
            conn.exec_driver_sql("CREATE VIEW local_wards AS SELECT code, name "
                                 "FROM registry_versions WHERE type = 'Phường'")
        live = _oid(into, "registry_versions")
        assert client.pull().bootstrapped
        assert _oid(into, "registry_versions") == live  # rows copied in: the view holds
        with client.store.engine.connect() as conn:
            wards = conn.exec_driver_sql("SELECT count(*) FROM local_wards").scalar_one()
        assert wards == 4
        assert client.verify().ok
    finally:
        client.close()


def _two_lists(centre: Centre) -> None:
    """Hà Nội's units and five agencies: two lists of versions, in that order."""
    centre.run(hanoi)
    centre.publish([{"op": "create", "list": "agencies", "code": f"000.00.00.G{n:02d}",
                     "name": f"Bộ thử nghiệm {n}", "type": "Bộ"} for n in range(5)])


def test_pages_of_versions_only_go_to_copy_whole_and_are_counted_per_list(
        centre: Centre, targets: Targets, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of nothing but COPY lines is handed to COPY as the bytes that came, not
    split into lines and joined again; a page that ends one list and starts the next
    still counts each list's versions (the snapshot's counts are checked against them)."""
    _two_lists(centre)
    into = targets.new("postgresql")
    client = SyncClient(centre.base, into, snapshot_limit=3)
    given: list[bytes] = []
    split: list[bytes] = []
    stage_copy = client.store.stage_copy
    split_lines = bootstrap._split_lines

    def spy(conn: Any, data: bytes, lines: int, where: str) -> None:
        given.append(data)
        stage_copy(conn, data, lines, where)

    def split_spy(header: dict[str, Any], body: bytes, where: str) -> list[bytes]:
        split.append(body)
        return split_lines(header, body, where)
    monkeypatch.setattr(client.store, "stage_copy", spy)
    monkeypatch.setattr(bootstrap, "_split_lines", split_spy)
    try:
        assert client.pull().bootstrapped
        assert client.verify().ok
        epoch = json.load(urllib.request.urlopen(f"{centre.base}/sync/v1/head"))["epoch"]
        release = client.store.state().release
        whole = [body for body in _pages(centre, epoch, release)
                 if body and not body.startswith(b"[") and b"\n[" not in body]
        assert whole and all(body in given for body in whole)  # as they came
        assert not any(body in split for body in whole)  # never split into lines
        assert len(split) == len(_pages(centre, epoch, release)) - len(whole)
        keys = [[line.split(b"\t", 1)[0] for line in body[:-1].split(b"\n")]
                for body in whole]
        assert any(len(set(found)) == 2 for found in keys)  # one page spans both lists
        counts = dict(dump_counts(into))
        assert counts == {"admin-units": len(dump(into)["registry_versions"]) - 5,
                          "agencies": 5}
    finally:
        client.close()


def _pages(centre: Centre, epoch: str, release: int) -> list[bytes]:
    """The bodies of the snapshot's COPY pages, 3 records each, as a replica gets them."""
    bodies, after = [], ""
    while True:
        query = f"lines=copy&limit=3{'&after=' + after if after else ''}"
        with urllib.request.urlopen(
                f"{centre.base}/sync/v1/snapshot/{epoch}/{release}?{query}") as answer:
            head, _, body = answer.read().partition(b"\n")
        bodies.append(body)
        after = json.loads(head).get("next") or ""
        if not after:
            return bodies


def dump_counts(url: str) -> list[tuple[str, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [(key, count) for key, count in conn.exec_driver_sql(
                "SELECT list_key, count(*) FROM registry_versions GROUP BY list_key")]
    finally:
        engine.dispose()


def test_a_page_of_copy_lines_whose_count_is_not_its_headers_is_refused(
        centre: Centre, targets: Targets) -> None:
    _two_lists(centre)
    proxy = Proxy(centre.base)
    proxy.rewrite = lambda path, reply: (
        repage(reply, lambda lines: [*lines, lines[-1]])
        if "/snapshot/" in path and reply.status == 200
        and not any(line.startswith(b"[") for line in reply.body.split(b"\n")[1:])
        else reply)
    into = targets.new("postgresql")
    client = SyncClient(proxy.base, into, snapshot_limit=3)
    try:
        with pytest.raises(FeedIntegrityError, match="4 lines where the header announces 3"):
            client.pull()
        assert not client.store.state().bootstrapped
        assert dump(into)["registry_versions"] == []
    finally:
        client.close()
        proxy.close()


@pytest.mark.parametrize(("change", "said"), [
    (lambda line: line + b"\textra", "does not fit the replica's versions: extra data after "
                                      "last expected column"),
    (lambda line: line.replace(b"\t2025-01-01\t", b"\t2025-13-01\t", 1), "date"),
    (lambda line: line.rsplit(b"\t", 3)[0], "missing data for column"),
    # COPY's end-of-data marker instead of a row: COPY stops there, and the page's line
    # count, which the snapshot's counts are checked against, would not see it.
    (lambda line: b"\\." if b"\t00004\t" in line else line,
     "COPY took 1 of the page's 7 COPY lines as rows"),
])
def test_a_copy_line_that_does_not_fit_is_refused_and_nothing_is_applied(
        sqlite_centre: Centre, targets: Targets, change: Any, said: str) -> None:
    sqlite_centre.run(hanoi)
    proxy = Proxy(sqlite_centre.base)
    proxy.rewrite = lambda path, reply: (repage(reply, lambda lines: [
                                             line if line.startswith(b"[") else change(line)
                                             for line in lines])
                                         if "/snapshot/" in path and reply.status == 200
                                         else reply)
    into = targets.new("postgresql")
    client = SyncClient(proxy.base, into)
    try:
        with pytest.raises(FeedIntegrityError) as caught:
            client.pull()
        message = caught.value.message
        assert said in message
        assert "nothing was applied" in message
        assert not client.store.state().bootstrapped
        assert dump(into)["registry_versions"] == []
    finally:
        client.close()
        proxy.close()
    healthy = SyncClient(sqlite_centre.base, into)
    try:
        assert healthy.pull().bootstrapped and healthy.verify().ok
    finally:
        healthy.close()


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_copy_lines_sent_to_a_replica_that_did_not_ask_are_refused(
        sqlite_centre: Centre, targets: Targets, backend: str) -> None:
    sqlite_centre.run(hanoi)
    proxy = Proxy(sqlite_centre.base)

    def copy_instead(path: str) -> Reply | None:
        if "/snapshot/" not in path:
            return None
        return proxy.forward("GET", path + ("&" if "?" in path else "?") + "lines=copy",
                             None, {})

    proxy.before = copy_instead
    into = targets.new(backend)
    client = SyncClient(proxy.base, into)
    try:
        with pytest.raises(FeedIntegrityError) as caught:
            client.pull()
        assert "COPY text lines were sent to a replica that did not ask for them" in \
            caught.value.message
        assert dump(into)["registry_versions"] == []
    finally:
        client.close()
        proxy.close()


def test_copy_lines_with_other_columns_are_refused(sqlite_centre: Centre,
                                                   targets: Targets) -> None:
    sqlite_centre.run(hanoi)
    proxy = Proxy(sqlite_centre.base)

    def reorder(header: dict[str, Any]) -> None:
        header["copy"] = [*header["copy"][1:], "list"]

    def other_columns(path: str, reply: Reply) -> Reply:
        if "/snapshot/" not in path or reply.status != 200:
            return reply
        return repage(reply, header=reorder)

    proxy.rewrite = other_columns
    into = targets.new("postgresql")
    client = SyncClient(proxy.base, into)
    try:
        with pytest.raises(FeedIntegrityError) as caught:
            client.pull()
        assert "not the ones this client knows" in caught.value.message
        assert dump(into)["registry_versions"] == []
    finally:
        client.close()
        proxy.close()


def test_the_walk_ahead_builds_the_encodings_replicas_asked_for(
        pg_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("registry.sync.server.DEFAULT_SNAPSHOT_LIMIT", 3)
    sessions = session_factory(pg_database.engine)
    with transaction(sessions) as session:
        hanoi(session)
    server = SyncServer(sessions)

    def idle() -> None:
        for _ in range(60):
            server._ahead.submit(lambda: None).result(timeout=20)

    head = server.head()
    idle()
    json_pages = server.pages_built
    assert json_pages >= 3  # the walk built the JSON pages only: nobody asked for more
    server.snapshot(head.epoch, head.release, Subscription(), None, 3, "copy")
    idle()  # that replica's own pages are built ahead of it
    with transaction(sessions) as session:
        publish(session, [unit("003", "Quận Tây Hồ", "Quận", "01")])
    built = server.pages_built
    assert server.head().release == head.release + 1
    idle()
    # The next release's walk builds both encodings, each a whole walk.
    with sessions() as session:
        assert read_head(session).release == head.release + 1
    walked = server.pages_built - built
    assert walked >= 2 * json_pages
    before = server.pages_built
    for lines in ("json", "copy"):
        token: str | None = None
        while True:
            raw = server.snapshot(head.epoch, head.release + 1, Subscription(), token, 3, lines).raw
            assert ("copy" in json.loads(raw.split(b"\n", 1)[0])) == (lines == "copy")
            token = json.loads(raw.split(b"\n", 1)[0])["next"]
            if token is None:
                break
    assert server.pages_built == before  # every page was ready


@pytest.mark.parametrize("first_pages", ["copy", "json"])
def test_an_interrupted_postgresql_bootstrap_resumes_whatever_its_pages_were(
        sqlite_centre: Centre, targets: Targets, first_pages: str) -> None:
    """Three pages staged, then the link goes down; the rest comes after a restart. The
    first pages came as COPY lines, or as JSON lines (a centre from before ``lines``, or an
    older client): either way the resumed bootstrap ends whole and equal to the centre."""
    centre = sqlite_centre
    centre.run(hanoi)
    centre.publish([unit(f"16{i:03d}", f"Phường Thử 16{i:03d}", "Phường", "002")
                    for i in range(40)], "2025-02-01")
    into = targets.new("postgresql")
    proxy = Proxy(centre.base)

    def as_json_lines(path: str) -> Reply | None:
        return proxy.forward("GET", path.replace("&lines=copy", "")
                             .replace("lines=copy&", "").replace("?lines=copy", ""),
                             None, {})

    store = cut_after_three_snapshot_pages(
        proxy, into, as_json_lines if first_pages == "json" else None)
    with store.engine.connect() as conn:
        staged = {table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                  for table in ("registry_stage_versions", "registry_stage_lines")}
    store.close()
    # pages of 10 records: the 3 lists and 7 versions, then 10 and 10 versions
    assert staged == ({"registry_stage_versions": 27, "registry_stage_lines": 0}
                      if first_pages == "copy" else
                      {"registry_stage_versions": 0, "registry_stage_lines": 27})
    proxy.requests.clear()
    resumed = SyncClient(proxy.base, into, snapshot_limit=10)
    try:
        assert resumed.pull().bootstrapped
        snapshots = [p for p in proxy.requests if "/snapshot/" in p]
        assert "after=" in snapshots[0] and all("lines=copy" in p for p in snapshots)
        assert resumed.verify().ok
        assert resumed.store.counts()["admin-units"]["versions"] == 47
        with resumed.store.engine.connect() as conn:
            left = [conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                    for table in ("registry_stage_versions", "registry_stage_lines")]
        assert left == [0, 0]
    finally:
        resumed.close()
        proxy.close()
