"""A follower woken by a release of many pages fetches the rest of them ahead, on the
centre's word of where the feed ends; a wrong word costs requests, never data."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from registry.sync.client import SyncClient
from registry.sync.protocol import HEAD_SEQ_HEADER, PREFIX
from registry.sync.results import PullResult
from tests.factories import hanoi, unit
from tests.sync.conftest import Centre, Targets
from tests.sync.proxy import Proxy, Reply


def _units(count: int) -> list[dict[str, object]]:
    return [unit(f"21{i:03d}", f"Phường Thử {i:03d}", "Phường", "001") for i in range(count)]


def _pages(requests: list[str]) -> list[tuple[int, bool]]:
    """(page, asked after a seq) of each change-page request, in order."""
    found = []
    for path in requests:
        parts = urlsplit(path)
        segments = parts.path.split("/")
        if len(segments) >= 7 and segments[3] == "changes":
            found.append((int(segments[6]), "after" in parse_qs(parts.query)))
    return found


def _follow_once(client: SyncClient, proxy: Proxy, centre: Centre,
                 units: int = 22) -> PullResult:
    """A follower at the head long-polls; a release of ``units`` units and its marker
    (23 records by default: five pages of 5) is published while it waits; what its pull
    did."""
    results: list[PullResult] = []
    follower = threading.Thread(target=lambda: results.append(client.pull(wait=30)))
    proxy.requests.clear()
    follower.start()
    deadline = time.monotonic() + 10
    while not any("wait=" in path for path in proxy.requests):
        assert time.monotonic() < deadline, "the follower never long-polled"
        time.sleep(0.01)
    time.sleep(0.2)  # the long poll has reached the centre
    centre.publish(_units(units), "2025-02-01")
    follower.join(60)
    assert results, "the follower did not return"
    return results[0]


def test_a_change_page_says_where_the_feed_ends(small_page_centre: Centre) -> None:
    centre = small_page_centre
    centre.run(hanoi)
    with urllib.request.urlopen(f"{centre.base}{PREFIX}/head", timeout=10) as answer:
        head = json.loads(answer.read())
    epoch, seq = head["epoch"], head["seq"]
    with urllib.request.urlopen(f"{centre.base}{PREFIX}/changes/{epoch}/5/0?lines=canonical",
                                timeout=10) as answer:
        assert answer.headers[HEAD_SEQ_HEADER] == str(seq)
    # Documented where clients look for the protocol.
    with urllib.request.urlopen(f"{centre.base}{PREFIX}/openapi.json", timeout=10) as answer:
        document = json.loads(answer.read())
    page = document["paths"][f"{PREFIX}/changes/{{epoch}}/{{size}}/{{page}}"]["get"]
    assert HEAD_SEQ_HEADER in page["responses"]["200"]["headers"]


# The follower was at seq 12, inside page 2 (seqs 11–15), and long-polled there. A
# release ending at 35 (22 units): pages 3–6 fetched ahead up to the head's (not "after" a
# seq, as a follower that does not know the head asks, one page at a time), then page 7
# after the cursor: nothing more. A release ending at 34 (21 units), inside page 6: page 6
# is fetched ahead whole, as it stood at the head the centre named (before, it was asked
# for after the cursor once page 5 was applied), and the pull, its long poll spent, ends
# there.
@pytest.mark.parametrize(("units", "asked"), [
    (22, [(2, True), (3, False), (4, False), (5, False), (6, False), (7, True)]),
    (21, [(2, True), (3, False), (4, False), (5, False), (6, False)]),
], ids=["ending-on-a-page-boundary", "ending-inside-the-head-page"])
def test_a_follower_woken_by_a_long_release_fetches_its_pages_ahead(
        small_page_centre: Centre, targets: Targets, units: int,
        asked: list[tuple[int, bool]]) -> None:
    centre = small_page_centre
    centre.run(hanoi)
    proxy = Proxy(centre.base)
    client = SyncClient(proxy.base, targets.new("sqlite"))
    try:
        client.pull()
        result = _follow_once(client, proxy, centre, units)
        assert result.releases == 1 and result.records == units
        assert _pages(proxy.requests) == asked
        assert client.verify().ok
    finally:
        client.close()
        proxy.close()


@pytest.mark.parametrize("hint", ["999999999", "-3", "many", "1" * 40])
def test_a_wrong_word_on_the_head_changes_nothing_applied(
        small_page_centre: Centre, targets: Targets, hint: str) -> None:
    centre = small_page_centre
    centre.run(hanoi)
    proxy = Proxy(centre.base)

    def lie(path: str, reply: Reply) -> Reply:
        if "/changes/" in path:
            reply.headers = {k: v for k, v in reply.headers.items()
                             if k.lower() != HEAD_SEQ_HEADER.lower()}
            reply.headers[HEAD_SEQ_HEADER] = hint
        return reply

    proxy.rewrite = lie
    client = SyncClient(proxy.base, targets.new("sqlite"))
    try:
        client.pull()
        result = _follow_once(client, proxy, centre)
        assert result.releases == 1 and result.records == 22
        assert client.verify().ok
        if hint == "999999999":
            # Pages beyond the head were asked for ahead, refused, and asked again as a
            # follower does.
            assert (7, False) in _pages(proxy.requests)
    finally:
        client.close()
        proxy.close()
