"""Following the feed over HTTP, once bootstrapped (DESIGN §9.5–9.7).

- Replicas of **every list** follow the hash-chained change pages; every
  page is checked (:mod:`.chain`) before its records are applied (:mod:`.apply`). Complete
  pages up to the head are fetched ahead (:mod:`.prefetch`); the head page is asked for
  "after the cursor", long-polling when there is nothing new.
- Replicas of **some lists** or with a **scope** apply one delta per release that changes
  what they hold (the others are skipped) and prove the result against the centre's
  checksums of the lists it touches, in the same transaction (:mod:`.delta_check`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from registry.errors import FeedIntegrityError
from registry.services.checksums import ListChecksum
from registry.sync.apply import Applied, ChainApplier, OpenRelease
from registry.sync.chain import verify_page
from registry.sync.codec import check_digest, decode_header, decode_records
from registry.sync.collector import collector_held
from registry.sync.delta_check import Touched, expected_after, touched_codes, touched_sums
from registry.sync.errors import EpochChanged
from registry.sync.local_store import LocalState
from registry.sync.prefetch import PagePrefetch
from registry.sync.protocol import (
    CANONICAL_LINES,
    HEAD_SEQ_HEADER,
    PREFIX,
    Subscription,
    page_of,
)
from registry.sync.results import PullResult, RemoteHead
from registry.sync.transport import Answer, HttpError

if TYPE_CHECKING:
    from registry.sync.client import SyncClient

log = logging.getLogger("registry.sync")


def fetch_page(client: SyncClient, head: RemoteHead, page: int, wait: float,
               after: int | None) -> Answer:
    """One change page (with ``after``: only its records after that seq), long-polling for
    ``wait`` seconds when there is nothing new."""
    path = f"{PREFIX}/changes/{head.epoch}/{head.page_size}/{page}"
    headers: dict[str, str] = {}
    params: dict[str, Any] = dict(CANONICAL_LINES)
    if after is not None:
        params["after"] = after  # only what is new; the long poll waits for it
        if wait:
            params["wait"] = f"{wait:g}"
    elif wait and client._etag and client._etag_page == (head.epoch, head.page_size, page):
        headers["If-None-Match"] = client._etag
        params["wait"] = f"{wait:g}"
    answer = client.transport.get(path, params, headers=headers, timeout=wait + 30)
    if answer.status == 200 and "etag" in answer.headers:
        client._etag, client._etag_page = answer.headers["etag"], (head.epoch,
                                                                  head.page_size, page)
    return answer


def _head_hint(answer: Answer) -> int:
    """The head seq the centre served a page at (0 when it did not say): only where to
    fetch ahead up to; what is applied is decided by the hash chain."""
    found = answer.headers.get(HEAD_SEQ_HEADER.lower(), "")
    return int(found) if found.isdigit() and len(found) < 19 else 0


def follow_pages(client: SyncClient, state: LocalState, head: RemoteHead, result: PullResult,
                 wait: float) -> None:
    """Apply the change pages after the cursor up to the head (waiting up to ``wait``
    seconds for more when there is nothing new)."""
    size = head.page_size
    applier = ChainApplier(client, state, result)
    known_head = head.seq
    page = page_of(applier.seq + 1, size)
    waited = False
    # Pages up to the head's are fetched ahead, while earlier ones are applied.
    ahead = PagePrefetch(client.transport, head, page, page_of(known_head, size)) \
        if page < page_of(known_head, size) else None
    try:
        while not client.stop.is_set():
            use_wait = 0.0
            if applier.seq >= known_head:
                if not wait or waited:
                    break
                use_wait, waited = wait, True
            # The head page is asked for "after the cursor": a follower receives and
            # verifies only what is new, not the page's earlier records again.
            after = applier.seq if page >= page_of(known_head, size) else None
            answer = None
            if ahead is not None and ahead.has(page):
                try:
                    answer, after = ahead.take(page), None
                except HttpError as exc:
                    if exc.status != 404:
                        raise
                    # Fetched ahead up to a head the centre said it had and no longer
                    # has (a restore, or a wrong hint): asked for as a follower does.
                    ahead.close()
                    ahead = None
            if answer is None:
                answer = fetch_page(client, head, page, use_wait, after)
            if answer.status == 304:
                break
            where = client.transport.url(f"{PREFIX}/changes/{head.epoch}/{size}/{page}")
            with collector_held():
                header, body = decode_header(answer.body, where, check=False)
                records, hashes = verify_page(client.transport, header, body, where, head,
                                              page, size, applier.seq, applier.hash, after)
                check_digest(header, body, where)
                for record, digest in zip(records, hashes, strict=True):
                    applier.add(record, digest, where)
                del records, hashes
            if header.get("complete"):
                # A full page: the next one may hold more (a release can go on there),
                # whatever head we started from.
                known_head = max(known_head, applier.seq + 1)
                page += 1
                # Woken by a release of many pages: the pages up to the one where the
                # centre said the feed ends are fetched ahead, that one included (whole:
                # the cursor will be at its start).
                hint = _head_hint(answer)
                ahead_to = max(page_of(known_head, size) - 1, page_of(hint, size) if hint else 0)
                if page <= ahead_to and (ahead is None or page > ahead.last):
                    if ahead is not None:
                        ahead.close()
                    ahead = PagePrefetch(client.transport, head, page, ahead_to)
                continue
            if applier.inside_release:
                # A head page never ends inside a release, since a release commits at
                # once; a page that does is stale or wrong: drop what it staged.
                log.warning("%s ends inside release %s; not applied", where,
                            applier.open.release if applier.open else None)
                applier.drop()
            known_head = max(known_head, applier.seq)
            if waited or not wait:
                break
    finally:
        if ahead is not None:
            ahead.close()
        applier.drop()


def follow_deltas(client: SyncClient, state: LocalState, head: RemoteHead, result: PullResult,
                  wait: float, sub: Subscription) -> None:
    """Apply the deltas of the releases after the replica's, one release at a time."""
    waited = False
    while not client.stop.is_set():
        if state.release >= head.release:
            if not wait or waited:
                return
            head = client.head(wait=wait, after=state.seq)
            waited = True
            if head.epoch != state.epoch:
                raise EpochChanged("the centre's epoch changed", head.epoch)
            continue
        # Releases that change nothing subscribed are skipped: the centre answers with the
        # first one up to the head that does (or the head's own, to move the cursor there).
        release = state.release + 1
        path = f"{PREFIX}/deltas/{head.epoch}/{release}"
        params = {"lists": ",".join(sub.lists) if sub.lists else None,
                  "scope": str(sub.scope) if sub.scope else None,
                  "through": head.release}
        where = client.transport.url(path, params)
        answer = client.transport.get(path, params)
        header, body = decode_header(answer.body, where)
        client._check_format(header, where)
        found = header.get("release")
        if (header.get("t") != "delta" or header.get("epoch") != head.epoch
                or not isinstance(found, int) or not release <= found <= head.release
                or header.get("from_release") != state.release):
            raise FeedIntegrityError(f"{where}: this is not a delta from release "
                                     f"{state.release} to at most {head.release}; "
                                     "nothing was applied")
        with collector_held():
            records = list(decode_records(header, body, where))
            applied = apply_delta(client, state, header, records, where)
            del records
        state = client._committed = applied.state
        result.releases += len(applied.every_release)
        result.records += applied.records
        for changes in applied.every_release:
            client._notify(changes)
        client._report(state, quiet=True)


def apply_delta(client: SyncClient, state: LocalState, header: dict[str, Any],
                records: list[dict[str, Any]], where: str) -> Applied:
    """Apply one release's delta and check the scoped lists' checksums against the
    centre's, in one transaction: a mismatch refuses the release."""
    release = int(header["release"])
    txn = OpenRelease(client, state)
    try:
        for record in records:
            client._check_format(record, where)
        wanted: dict[str, Any] = header.get("checksums") or {}
        found_before = header.get("checksums_before")
        centre_before: dict[str, Any] = found_before if isinstance(found_before, dict) else {}
        incremental = isinstance(found_before, dict)
        touched = touched_codes(records)
        before = touched_sums(client.store, txn.conn, touched) if incremental else {}
        # A delta may span releases: each is followed by its marker, and the last marker is
        # the release the header names, where the cursor goes.
        marker: dict[str, Any] = {}
        for index, record in enumerate(records):
            if record.get("t") != "release":
                txn.add(record)
            elif index == len(records) - 1:
                marker = record
            elif record.get("release") not in range(state.release + 1, release) or any(
                    not isinstance(record.get(k), int | str) for k in ("seq", "hash")):
                raise FeedIntegrityError(f"{where}: a release marker inside the delta is not "
                                         f"of a release between {state.release} and "
                                         f"{release} with its seq and hash; nothing was "
                                         "applied")
            else:
                txn.end_release(record)
        if marker.get("release", release) != release:
            raise FeedIntegrityError(f"{where}: the delta does not end with the marker of "
                                     f"release {release}; nothing was applied")
        txn.flush()
        local = (_incremental(client, txn, wanted, centre_before, touched, before)
                 if incremental else client.store.checksums(sorted(wanted), txn.conn))
        for key, data in sorted(wanted.items()):
            centre = ListChecksum.from_dict(data)
            mine = local.get(key, ListChecksum(key))
            if mine.checksum != centre.checksum:
                detail = "; ".join(mine.differences(centre)) or "the content differs"
                raise FeedIntegrityError(
                    f"{where}: after applying release {release}, '{key}' does not match "
                    f"the centre's checksum ({detail}); the release was refused and "
                    "nothing was applied")
        return txn.commit({**marker, "t": "release"}, int(header["seq"]),
                          str(header["hash"]), release=release)
    finally:
        txn.rollback()


def _incremental(client: SyncClient, txn: OpenRelease, wanted: dict[str, Any],
                 centre_before: dict[str, Any], touched: dict[str, Touched],
                 before: dict[str, ListChecksum]) -> dict[str, ListChecksum]:
    """This replica's checksums of the lists in ``wanted`` after the release, from the
    centre's before it and the rows the release touched (:mod:`.delta_check`)."""
    after = touched_sums(client.store, txn.conn, touched)
    definitions = client.store.definitions(txn.conn)
    out: dict[str, ListChecksum] = {}
    for key in wanted:
        definition = ListChecksum(key)
        if key in definitions:
            definition.set_definition(*definitions[key])
        out[key] = expected_after(key, centre_before.get(key), before.get(key),
                                  after.get(key), definition.definition)
    return out
