"""Complete change pages, built and gzipped by the publish that completes them (§9.5).

A release wakes its followers the moment it commits, and each of its pages used to be
built when the first follower asked: a read of a thousand records, their encoding and a
gzip, about 5 ms of the centre's CPU a page, paid inside the very interval a follower
measures from commit to visible, on the same cores as the follower and its database. A
complete page never changes within an epoch, so the release that completes it builds it
instead, in its own transaction (about 3% more time for a 14,000-record publish here), and
the server reads the stored bytes (:func:`load`).

Only the canonical-lines encoding (``lines=canonical``) is stored: it is what replicas ask
for; other encodings are built on demand as before. A release that completes more than
:data:`MOST_PAGES` pages (a bulk import) leaves them to be built on demand too, and the pages
of releases older than :data:`KEEP_RELEASES` are dropped: they are for followers near the head.
"""

from __future__ import annotations

import os

from sqlalchemy import Connection, delete, or_, select
from sqlalchemy.orm import Session

from registry.models import FeedHead, StoredChangePage
from registry.services.feed import Head, read_head
from registry.sync.codec import gzip_bytes
from registry.sync.feed_pages import ChangePage, build_change_page, complete_etag, page_bounds
from registry.sync.protocol import DEFAULT_PAGE_SIZE

MOST_PAGES = 100
KEEP_RELEASES = 16
# gzip level 6, as the server compresses the pages it builds (see SyncServer._change_page).
LEVEL = 6


def page_size_from_env() -> int:
    """``REGISTRY_SYNC_PAGE_SIZE`` (default 1000): part of every page URL, so changing it
    never mixes pages of two sizes in a cache. The publisher stores pages of this size; a
    server configured otherwise builds its pages itself."""
    return max(1, int(os.environ.get("REGISTRY_SYNC_PAGE_SIZE", DEFAULT_PAGE_SIZE)))


def completed_pages(before: int, after: int, size: int) -> range:
    """The pages that became complete when the head moved from seq ``before`` to ``after``."""
    return range(before // size, after // size)


def store_completed(session: Session, before: int) -> int:
    """In the publishing transaction, after the head has moved: build and keep the change
    pages completed since seq ``before``, and drop the pages of old releases and epochs.
    Returns the number of pages stored."""
    head = read_head(session)
    session.execute(delete(StoredChangePage).where(or_(
        StoredChangePage.epoch != head.epoch,
        StoredChangePage.release_id <= head.release - KEEP_RELEASES)))
    size = page_size_from_env()
    pages = completed_pages(before, head.seq, size)
    if not pages or len(pages) > MOST_PAGES:
        return 0
    for page in pages:
        built = build_change_page(session, head, size, page, canonical=True)
        assert built is not None and built.complete
        session.add(StoredChangePage(epoch=head.epoch, size=size, page=page,
                                     release_id=head.release, hash=built.last_hash,
                                     body=gzip_bytes(built.body, LEVEL)))
    session.flush()
    return len(pages)


def load(connection: Connection, head: Head, size: int, page: int
         ) -> tuple[ChangePage, bytes] | None:
    """Complete page ``page`` as stored, with its gzipped bytes, if it is stored under the
    feed's current epoch; one statement."""
    current = select(FeedHead.id).where(FeedHead.id == 1, FeedHead.epoch == head.epoch)
    found = connection.execute(
        select(StoredChangePage.hash, StoredChangePage.body).where(
            StoredChangePage.epoch == head.epoch, StoredChangePage.size == size,
            StoredChangePage.page == page, current.exists())).one_or_none()
    if found is None:
        return None
    digest, gz = found
    _first, last = page_bounds(page, size)
    # No plain bytes: the server's Body makes them from gz for a client that refuses gzip.
    return ChangePage(body=b"", etag=complete_etag(digest, canonical=True), complete=True,
                      last_seq=last, last_hash=digest), gz
