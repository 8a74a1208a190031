"""The feed endpoints over real HTTP: caching headers, validators, long polls, gzip, epochs,
tokens, the ledger and the OpenAPI description (§9.3, §9.5, §9.10)."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from registry.models import FeedRecord
from registry.services import sync_ledger
from registry.services.actors import SYSTEM
from registry.services.feed import read_head
from registry.services.tokens import create_token
from registry.sync.client import SyncClient
from tests.conftest import Database, run_async
from tests.factories import hanoi
from tests.sync.conftest import Centre, Targets


def get(base: str, path: str, headers: dict[str, str] | None = None,
        method: str = "GET", body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """One request; the body is un-gzipped when it came gzipped."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Accept-Encoding": "gzip", **(headers or {})}
    if data is not None:
        sent["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=sent)
    answer = conn.getresponse()
    raw = answer.read()
    found = {k.lower(): v for k, v in answer.getheaders()}
    conn.close()
    if found.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return answer.status, found, raw


def test_head_and_change_pages_follow_the_caching_contract(small_page_centre: Centre) -> None:
    centre = small_page_centre
    centre.run(hanoi)  # seqs 1–12 with pages of 5: pages 0 and 1 complete, page 2 partial
    status, headers, body = get(centre.base, "/sync/v1/head")
    head = json.loads(body)
    assert status == 200 and headers["cache-control"] == "no-cache"
    assert headers["content-encoding"] == "gzip"
    assert (head["seq"], head["release"], head["format"], head["page_size"]) == (12, 2, 1, 5)
    epoch = head["epoch"]

    status, headers, body = get(centre.base, f"/sync/v1/changes/{epoch}/5/1")
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    last = centre.run(lambda s: s.get(FeedRecord, 10).hash)
    assert headers["etag"] == f'"{last}"'
    header = json.loads(body.split(b"\n", 1)[0])
    assert (header["first"], header["last"], header["hash"], header["complete"]) == \
        (6, 10, last, True)
    assert get(centre.base, f"/sync/v1/changes/{epoch}/5/1",
               {"If-None-Match": headers["etag"]})[0] == 304

    status, headers, body = get(centre.base, f"/sync/v1/changes/{epoch}/5/2")
    assert status == 200 and headers["cache-control"] == "no-cache"
    etag = headers["etag"]
    assert json.loads(body.split(b"\n", 1)[0])["complete"] is False
    assert get(centre.base, f"/sync/v1/changes/{epoch}/5/2", {"If-None-Match": etag})[0] == 304
    # A long poll with nothing new ends in 304; one that sees a release answers with it.
    assert get(centre.base, f"/sync/v1/changes/{epoch}/5/2?wait=0.5",
               {"If-None-Match": etag})[0] == 304
    publisher = threading.Timer(0.5, lambda: centre.publish(
        [{"op": "rename", "list": "admin-units", "code": "00013", "name": "Phường Mới"}],
        "2025-03-01"))
    publisher.start()
    status, headers, body = get(centre.base, f"/sync/v1/changes/{epoch}/5/2?wait=20",
                                {"If-None-Match": etag})
    publisher.join()
    assert status == 200 and headers["etag"] != etag
    assert json.loads(body.split(b"\n", 1)[0])["complete"] is True  # seqs 11–15 are there

    status, _, body = get(centre.base, "/sync/v1/head?wait=0.3&after=15")
    assert status == 200 and json.loads(body)["seq"] == 15
    assert get(centre.base, f"/sync/v1/changes/{epoch}/5/9")[0] == 404  # beyond the head
    assert get(centre.base, f"/sync/v1/changes/{epoch}/1000/0")[0] == 404  # another size
    status, headers, body = get(centre.base, "/sync/v1/changes/not-the-epoch/5/0")
    assert status == 410 and json.loads(body)["epoch"] == epoch
    assert headers["cache-control"] == "no-store"


def test_snapshots_and_checksums_are_immutable(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    release = centre.run(hanoi)
    epoch = json.loads(get(centre.base, "/sync/v1/head")[2])["epoch"]
    status, headers, body = get(centre.base, f"/sync/v1/snapshot/{epoch}/{release}?limit=3")
    assert status == 200 and headers["cache-control"].endswith("immutable")
    header = json.loads(body.split(b"\n", 1)[0])
    assert header["lists"]["admin-units"] == {"versions": 7, "links": 0}
    assert header["next"] and header["release"] == release
    status, _, body = get(centre.base, f"/sync/v1/checksums/{epoch}/{release}"
                                       "?lists=admin-units&scope=001")
    sums = json.loads(body)
    assert status == 200 and sums["lists"]["admin-units"]["versions"] == 4
    assert get(centre.base, f"/sync/v1/snapshot/{epoch}/{release + 5}")[0] == 404
    assert get(centre.base, f"/sync/v1/snapshot/{epoch}/{release}?scope=99")[0] == 404
    status, _, body = get(centre.base, f"/sync/v1/snapshot/{epoch}/{release}?lists=Bad!")
    assert status == 400 and json.loads(body)["field"] == "lists"


def test_openapi_describes_every_endpoint(sqlite_centre: Centre) -> None:
    status, _, body = get(sqlite_centre.base, "/sync/v1/openapi.json")
    document = json.loads(body)
    assert status == 200 and document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/sync/v1/head", "/sync/v1/changes/{epoch}/{size}/{page}",
        "/sync/v1/hashes/{epoch}/{size}/{page}", "/sync/v1/snapshot/{epoch}/{release}",
        "/sync/v1/deltas/{epoch}/{release}", "/sync/v1/checksums/{epoch}/{release}",
        "/sync/v1/ledger", "/sync/v1/openapi.json"}


def test_a_sync_token_reads_the_feed_and_reports_and_nothing_else(
        sqlite_centre: Centre, targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    sync = centre.run(lambda s: create_token(s, SYSTEM, "province-01", "sync")).secret
    reader = centre.run(lambda s: create_token(s, SYSTEM, "dashboard", "reader")).secret
    centre.stop()
    centre.env["REGISTRY_ANONYMOUS_READ"] = "0"
    centre.start()
    as_sync = {"Authorization": f"Bearer {sync}"}
    as_reader = {"Authorization": f"Bearer {reader}"}
    assert get(centre.base, "/sync/v1/head")[0] == 401
    assert get(centre.base, "/sync/v1/head", {"Authorization": "Bearer nope"})[0] == 401
    assert get(centre.base, "/sync/v1/head", {"Authorization": "Basic eDp5"})[0] == 401
    assert get(centre.base, "/sync/v1/head", as_sync)[0] == 200
    assert get(centre.base, "/sync/v1/ledger", as_sync)[0] == 403
    report = {"name": "x", "seq": 1, "release": 1}
    assert get(centre.base, "/sync/v1/ledger", as_reader, "POST", report)[0] == 403
    bad = get(centre.base, "/sync/v1/ledger", as_sync, "POST", {"name": "x", "seq": -1,
                                                                 "release": 0})
    assert bad[0] == 400 and json.loads(bad[2])["field"] == "seq"

    client = SyncClient(centre.base, targets.new("sqlite"), token=sync, name="ubnd-hanoi")
    client.pull()
    status, _, body = get(centre.base, "/sync/v1/ledger", as_reader)
    consumers = json.loads(body)["consumers"]
    assert status == 200 and [c["name"] for c in consumers] == ["ubnd-hanoi"]
    assert (consumers[0]["release"], consumers[0]["lag_releases"]) == (2, 0)

    centre.publish([{"op": "rename", "list": "admin-units", "code": "00013",
                     "name": "Phường Mới"}], "2025-03-01")
    views = centre.run(sync_ledger.list_consumers)
    assert (views[0].name, views[0].lag_releases, views[0].lag_records) == ("ubnd-hanoi", 1, 3)
    client.pull()
    views = centre.run(sync_ledger.list_consumers)
    head = centre.run(read_head)
    assert (views[0].release, views[0].seq, views[0].lag_releases) == (head.release,
                                                                       head.seq, 0)
    assert views[0].last_error is None and views[0].current_epoch
    client.close()


def test_the_full_app_mounts_the_sync_endpoints(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    centre.stop()
    centre.factory = "registry.app:create_app"  # what ``registry serve`` runs
    centre.start()
    status, _, body = get(centre.base, "/sync/v1/head")
    assert status == 200 and json.loads(body)["release"] >= 1
    assert get(centre.base, "/sync/v1/openapi.json")[0] == 200

    # One rule on both interfaces (docs/graphql.md, docs/sync-protocol.md): a token that is
    # unknown, or an Authorization header that is not a bearer token, is 401 even where
    # anonymous reading is on; 403 is for a valid token whose role may not do the thing.
    query = {"query": "{ __typename }"}
    for header in ("Bearer nope", "Basic dXNlcjpwdw=="):
        sent = {"Authorization": header}
        sync_status, sync_headers, _ = get(centre.base, "/sync/v1/head", sent)
        graphql_status, _, _ = get(centre.base, "/graphql", sent, "POST", query)
        assert (sync_status, graphql_status) == (401, 401), header
        assert sync_headers["www-authenticate"].startswith("Bearer")


def test_the_head_watcher_serves_many_long_polls_at_once(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    head = json.loads(get(centre.base, "/sync/v1/head")[2])
    results: list[int] = []

    def poll() -> None:
        body = get(centre.base, f"/sync/v1/head?wait=20&after={head['seq']}")[2]
        results.append(json.loads(body)["seq"])

    threads = [threading.Thread(target=poll) for _ in range(60)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # every poll is waiting now; none holds a worker thread
    assert not results
    centre.publish([{"op": "rename", "list": "admin-units", "code": "00013",
                     "name": "Phường Mới"}], "2025-03-01")
    for thread in threads:
        thread.join(30)
    assert len(results) == 60 and set(results) == {head["seq"] + 3}


def test_a_long_poll_ends_when_its_client_goes_away(database: Database) -> None:
    """The wait ends at the server's disconnect notice, not at ``wait`` (60 s here): a node
    holding thousands of polls frees each one whose follower has gone."""
    from registry.app import create_app
    from registry.config import Settings

    app = create_app(Settings(database_url=database.url, anonymous_read=True))
    with database.engine.connect() as conn:
        seq = int(conn.exec_driver_sql("SELECT seq FROM feed_head").scalar_one())

    async def poll() -> tuple[float, list[dict[str, Any]]]:
        sent: list[dict[str, Any]] = []
        gone = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if not sent and not gone.is_set():
                gone.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(0.3)  # the follower goes away while it waits
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": "/sync/v1/head",
                 "raw_path": b"/sync/v1/head", "root_path": "",
                 "query_string": f"wait=60&after={seq}".encode(), "headers": [],
                 "client": ("127.0.0.1", 1), "server": ("registry", 80)}
        started = time.monotonic()
        await asyncio.wait_for(app(scope, receive, send), 30)
        return time.monotonic() - started, sent

    try:
        elapsed, sent = run_async(poll())
    finally:
        app.state.engine.dispose()
    assert elapsed < 10  # well before its 60 s wait
    assert sent and sent[0]["type"] == "http.response.start"


def test_without_a_token_an_open_feed_is_read_and_a_header_that_is_no_token_refused(
        sqlite_centre: Centre) -> None:
    sqlite_centre.run(hanoi)
    assert get(sqlite_centre.base, "/sync/v1/head")[0] == 200  # anonymous reading is on
    status, _, body = get(sqlite_centre.base, "/sync/v1/head", {"Authorization": "Basic eDp5"})
    assert status == 401 and "Bearer" in json.loads(body)["message"]
