"""Opening and closing a release: the one way anything reaches the feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from registry.models import Release
from registry.services.checksum_log import record_release
from registry.services.feed import FeedWriter, Head, lock_head
from registry.services.webhooks import outbox
from registry.sync.stored_changes import store_completed


@dataclass
class OpenRelease:
    """A release being written: its number, its feed writer and its row."""

    number: int
    feed: FeedWriter
    published_at: datetime
    first_seq: int
    note: str
    change_set_id: int | None


def open_release(
    session: Session, actor: str, note: str, change_set_id: int | None = None,
    head: Head | None = None,
) -> OpenRelease:
    """Start release ``head.release + 1``, locking the feed head unless the caller holds it."""
    head = head or lock_head(session)
    number = head.release + 1
    now = datetime.now(UTC)
    session.add(
        Release(
            id=number, change_set_id=change_set_id, published_at=now, published_by=actor,
            note=note, summary={}, first_seq=head.seq + 1, last_seq=head.seq,
        )
    )
    session.flush()
    return OpenRelease(number=number, feed=FeedWriter(session, head, number), published_at=now,
                       first_seq=head.seq + 1, note=note, change_set_id=change_set_id)


def close_release(session: Session, release: OpenRelease, summary: dict[str, Any],
                  marker: dict[str, Any]) -> None:
    """Append the release marker (the last record of every release), keep the checksums of
    the lists it changed, move the head, and put ``release.published`` in the outbox."""
    release.feed.append(
        {"t": "release", "published_at": release.published_at.isoformat(), **marker}
    )
    release.feed.flush()
    record_release(session, release.number)
    release.feed.close()
    session.execute(
        update(Release)
        .where(Release.id == release.number)
        .values(summary=summary, last_seq=release.feed.seq)
    )
    # The change pages this release completed, built now rather than while its followers
    # wait for them.
    store_completed(session, release.first_seq - 1)
    outbox.record_release(session, release.number, release.first_seq, release.feed.seq,
                          release.published_at, release.note, release.change_set_id)
