"""Snapshot pages kept in the centre's database: built once per release, read by every replica.

A bootstrap of a million versions costs the centre seconds of queries per page walk; the
memory cache of one server process holds a few pages, forgets them on restart, and is not
shared by the other processes of the centre. Stored pages are: the first replica to ask
for a page pays for it, and the 50th replica, on any process, after any restart, costs one
primary-key read of bytes already gzipped.

Storing is best effort. The page was built and is served either way; a write that fails
(a SQLite writer holding the lock, a read-only database user) is logged and forgotten,
and the next request builds the page again.
"""

from __future__ import annotations

import hashlib
import json
import logging

from sqlalchemy import Connection, delete, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from registry.db import transaction
from registry.models import FeedHead, SnapshotPage
from registry.sync.protocol import Subscription

log = logging.getLogger("registry.sync")

# Pages of releases older than the previous one are dropped when a newer snapshot's first
# page is stored: a replica still walking the previous release's pages keeps them, a
# replica asking for an older release gets its pages built again.
KEEP_RELEASES = 2


def page_key(epoch: str, release: int, sub: Subscription, token: str | None,
             limit: int, lines: str = "json") -> str:
    """The stored page's name: a hash of everything the page is a function of (JSON
    lines hash as they did before there was another encoding)."""
    named = json.dumps([epoch, release, sub.as_dict(), token or "", limit,
                        *([lines] if lines != "json" else [])],
                       sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(named.encode()).hexdigest()


def load(connection: Connection, key: str, epoch: str) -> bytes | None:
    """The gzipped page stored under ``key``, if any and if ``epoch`` (which the key
    hashes) is still the feed's: one statement, the whole cost of a stored page."""
    current = select(FeedHead.id).where(FeedHead.id == 1, FeedHead.epoch == epoch)
    return connection.execute(select(SnapshotPage.body).where(
        SnapshotPage.key == key, current.exists())).scalar()


def store(sessions: sessionmaker[Session], key: str, epoch: str, release: int, gz: bytes,
          first: bool) -> bool:
    """Keep the gzipped page ``gz`` under ``key`` in a transaction of its own; whether it
    was stored. ``first``: the snapshot's first page, which also drops the pages that
    :data:`KEEP_RELEASES` no longer keeps."""
    try:
        with transaction(sessions) as session:
            if first:
                session.execute(delete(SnapshotPage).where(or_(
                    SnapshotPage.epoch != epoch,
                    SnapshotPage.release_id <= release - KEEP_RELEASES)))
            session.add(SnapshotPage(key=key, epoch=epoch, release_id=release, body=gz))
        return True
    except IntegrityError:
        return False  # another process stored the same page first: the same bytes
    except DBAPIError as exc:
        log.warning("snapshot page of release %s not stored (it will be built again): %s",
                    release, str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
        return False
