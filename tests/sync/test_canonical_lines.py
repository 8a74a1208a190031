"""Change pages whose lines are the records' canonical texts (``lines=canonical``): the
centre sends what it stores, the replica hashes each line as it came."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from registry.errors import FeedIntegrityError
from registry.services import feed as feed_service
from registry.sync.client import SyncClient
from tests.factories import hanoi
from tests.sync.conftest import Centre, Targets, dump, hanoi_replica
from tests.sync.proxy import Proxy, Reply, repage

RENAME = [{"op": "rename", "list": "admin-units", "code": "00013",
           "name": "Phường Quán Thánh Mới"}]


def _epoch(centre: Centre) -> str:
    return str(json.load(urllib.request.urlopen(f"{centre.base}/sync/v1/head"))["epoch"])


def _page(centre: Centre, query: str) -> tuple[dict[str, Any], list[bytes], str]:
    with urllib.request.urlopen(f"{centre.base}/sync/v1/changes/{_epoch(centre)}/1000/0"
                                f"{query}") as answer:
        head, _, body = answer.read().partition(b"\n")
        return json.loads(head), body.split(b"\n")[:-1], answer.headers["ETag"]


def test_a_canonical_page_carries_the_stored_texts(centre: Centre) -> None:
    centre.run(hanoi)
    centre.publish(RENAME, "2025-03-01")
    stored = centre.run(lambda s: [r.record.encode() for r in feed_service.iter_records(s)])
    header, lines, etag = _page(centre, "?lines=canonical")
    assert header["lines"] == "canonical" and "schemas" not in header
    assert lines == stored and header["count"] == len(stored)
    assert header["digest"] == hashlib.sha256(b"".join(x + b"\n" for x in lines)).hexdigest()
    array_header, array_lines, array_etag = _page(centre, "")
    assert "lines" not in array_header and all(x.startswith(b"[") for x in array_lines)
    assert (array_header["hash"], array_header["last"]) == (header["hash"], header["last"])
    assert etag != array_etag  # two encodings of one page are two representations
    after = _page(centre, f"?lines=canonical&after={len(stored) - 2}")[1]
    assert after == stored[-2:]


def test_an_unknown_line_encoding_of_change_pages_is_refused(centre: Centre) -> None:
    centre.run(hanoi)
    with pytest.raises(urllib.error.HTTPError) as caught:
        _page(centre, "?lines=copy")
    assert caught.value.code == 400
    problem = json.loads(caught.value.read())
    assert problem["field"] == "lines" and problem["rule"] == "enum"
    assert "json, canonical" in problem["message"]


def test_a_replica_follows_canonical_pages_and_stays_equal(sqlite_centre: Centre,
                                                          targets: Targets) -> None:
    centre = sqlite_centre
    centre.run(hanoi)
    proxy = Proxy(centre.base)
    client = SyncClient(proxy.base, targets.new("sqlite"))
    try:
        client.pull()
        release = centre.publish(RENAME, "2025-03-01")
        assert client.pull().release == release
        pages = [p for p in proxy.requests if "/changes/" in p]
        assert pages and all("lines=canonical" in p for p in pages)
        assert client.verify().ok
    finally:
        client.close()
        proxy.close()


def test_a_centre_that_sends_array_pages_is_still_followed(sqlite_centre: Centre,
                                                          targets: Targets) -> None:
    """A centre from before ``lines`` ignores the parameter and answers array pages."""
    centre = sqlite_centre
    centre.run(hanoi)
    proxy = Proxy(centre.base)

    def as_an_older_centre(path: str) -> Reply | None:
        if "/changes/" not in path:
            return None
        return proxy.forward("GET", path.replace("lines=canonical&", "")
                             .replace("?lines=canonical", "").replace("&lines=canonical", ""),
                             None, {})

    proxy.before = as_an_older_centre
    client = SyncClient(proxy.base, targets.new("sqlite"))
    try:
        client.pull()
        release = centre.publish(RENAME, "2025-03-01")
        assert client.pull().release == release and client.verify().ok
    finally:
        client.close()
        proxy.close()


def _respell(line: bytes) -> bytes:
    """The same record, spelt differently: keys in reverse order, with spaces."""
    record = json.loads(line)
    return json.dumps(dict(reversed(list(record.items()))), ensure_ascii=False).encode()


def _not_an_object(line: bytes) -> bytes:
    return b"[" + line + b"]"


@pytest.mark.parametrize(("change", "said"), [
    (_respell, "does not match the hash the centre published"),
    (_not_an_object, "is not a valid record"),
    (lambda line: line[:-1], "is not a valid record"),
])
def test_a_canonical_line_that_is_not_the_published_text_is_refused(
        sqlite_centre: Centre, targets: Targets, change: Callable[[bytes], bytes],
        said: str) -> None:
    centre = sqlite_centre
    direct, into = hanoi_replica(centre, targets)
    direct.close()
    centre.publish(RENAME, "2025-03-01")
    before = dump(into)
    proxy = Proxy(centre.base)

    def renamed(lines: list[bytes]) -> list[bytes]:
        return [change(line) if "Quán Thánh Mới".encode() in line else line
                for line in lines]

    def tamper(path: str, reply: Reply) -> Reply:
        if "/changes/" not in path or reply.status != 200:
            return reply
        return repage(reply, renamed)

    proxy.rewrite = tamper
    client = SyncClient(proxy.base, into)
    try:
        with pytest.raises(FeedIntegrityError) as caught:
            client.pull()
        assert said in caught.value.message and "nothing was applied" in caught.value.message
        assert dump(into) == before
    finally:
        client.close()
        proxy.close()
