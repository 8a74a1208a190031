"""Change pages: fixed ranges of the feed, with what a replica needs to verify them (§9.5).

Page ``k`` of size ``n`` holds seqs ``k·n+1 … (k+1)·n``. Its header names the hash just
before the page (``prev``) and the hash of its last record (``hash``): a replica recomputes
the chain over the records and refuses the page unless it continues its own cursor and
arrives at ``hash``. A complete page never changes; the page holding the head grows until
it is complete, and is only ever served as "no-cache".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from registry.models import FeedRecord
from registry.services.feed import GENESIS_HASH, Head
from registry.services.raw_reads import many_rows
from registry.sync.codec import encode_page, encode_text_page


@dataclass(frozen=True)
class ChangePage:
    """One built page: its body, its validator and whether it can still grow."""

    body: bytes
    etag: str
    complete: bool
    last_seq: int
    last_hash: str


def page_bounds(page: int, size: int) -> tuple[int, int]:
    """First and last seq of page ``page``."""
    return page * size + 1, (page + 1) * size


# Built once: the read that the first follower of a release pays for every page.
_PAGE_RECORDS = (select(FeedRecord.seq, FeedRecord.record, FeedRecord.hash)
                 .where(FeedRecord.seq >= bindparam("low"), FeedRecord.seq <= bindparam("high"))
                 .order_by(FeedRecord.seq))


def build_change_page(session: Session, head: Head, size: int, page: int,
                      after: int | None = None, canonical: bool = False) -> ChangePage | None:
    """Page ``page`` as the feed holds it now, or ``None`` when it starts beyond the head.

    With ``after`` (a seq inside the page), only the records after it: a following replica
    asks the head page that way, so that it receives and verifies only what is new.
    ``canonical``: the lines are the stored canonical texts (``lines=canonical``).
    """
    first, last = page_bounds(page, size)
    if after is not None and first <= after < last:
        first = after + 1
    if first > head.seq + 1:
        return None
    rows = many_rows(session.connection(), _PAGE_RECORDS, {"low": first - 1, "high": last})
    before = 1 if rows and rows[0][0] == first - 1 else 0  # the record just before the page
    prev = rows[0][2] if before else GENESIS_HASH
    if first > 1 and not before:
        # The record before the page is missing: serve what there is and let the replica,
        # which checks the chain against its own cursor, refuse it by name.
        prev = ""
    records: list[str] = [row[1] for row in rows[before:]]
    last_seq, last_hash = (rows[-1][0], rows[-1][2]) if records else (first - 1, prev)
    complete = last_seq == last
    header = {"t": "page", "epoch": head.epoch, "page": page, "size": size, "first": first,
              "last": last_seq, "prev": prev, "hash": last_hash, "complete": complete}
    body = (encode_text_page(header, records) if canonical
            else encode_page(header, map(json.loads, records)))
    if complete and first == page * size + 1:
        etag = complete_etag(last_hash, canonical)
    else:
        etag = (f'"{head.epoch[:12]}-{size}-{page}-{first}-{last_seq}-{last_hash[:16]}'
                + ('-c"' if canonical else '"'))
    return ChangePage(body=body, etag=etag, complete=complete, last_seq=last_seq,
                      last_hash=last_hash)


def complete_etag(last_hash: str, canonical: bool) -> str:
    """The validator of a whole complete page: the hash of its last record, which names
    every record before it; the two encodings of a page are not the same bytes."""
    return f'"{last_hash}' + ('-c"' if canonical else '"')


def page_hashes(session: Session, size: int, page: int) -> list[list[int | str]]:
    """``[seq, hash]`` of every record of a page: a replica asks when a page fails, to name
    the first seq that does not verify."""
    first, last = page_bounds(page, size)
    return [[seq, digest] for seq, digest in session.connection().execute(
        select(FeedRecord.seq, FeedRecord.hash)
        .where(FeedRecord.seq >= first, FeedRecord.seq <= last).order_by(FeedRecord.seq))]
