"""Review comments: on a change set or one of its operations, with replies as threads.

Everyone in the review may comment: the author, the locality that proposed it, and the
central stewards, approvers and administrators. Other proposers and readers may not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import NotFound, PermissionDenied, ValidationError
from registry.models import ChangeSet, ChangeSetComment, Operation
from registry.services.actors import Actor
from registry.services.change_sets import get_change_set
from registry.text import NOTE_ALLOWS, check_text, nfc

MAX_BODY = 4000


def may_take_part(change_set: ChangeSet, actor: Actor) -> bool:
    """Whether ``actor`` reads and writes the review thread of ``change_set``."""
    if actor.role in ("steward", "approver", "admin"):
        return True
    return actor.name in (change_set.author, change_set.proposed_by)


def add_comment(session: Session, actor: Actor, change_set_id: int, body: str,
                operation_id: int | None = None,
                reply_to: int | None = None) -> ChangeSetComment:
    """A new comment; a reply is on the same operation as the comment it answers."""
    change_set = get_change_set(session, change_set_id)
    if not may_take_part(change_set, actor):
        raise PermissionDenied(f"{actor.name} ({actor.role}) takes no part in the review of "
                               f"change set {change_set_id}")
    text = nfc(check_text(body or "", "body", allow=NOTE_ALLOWS)).strip()
    if not text:
        raise ValidationError("body", "required", "a comment needs some text")
    if len(text) > MAX_BODY:
        raise ValidationError("body", "max_length", f"is longer than {MAX_BODY} characters")
    if reply_to is not None:
        parent = session.get(ChangeSetComment, reply_to)
        if parent is None or parent.change_set_id != change_set_id:
            raise NotFound(f"change set {change_set_id} has no comment {reply_to}")
        operation_id = parent.operation_id
    elif operation_id is not None:
        found = session.get(Operation, operation_id)
        if found is None or found.change_set_id != change_set_id:
            raise NotFound(f"change set {change_set_id} has no operation {operation_id}")
    row = ChangeSetComment(change_set_id=change_set_id, operation_id=operation_id,
                           parent_id=reply_to, author=actor.name, body=text,
                           at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return row


@dataclass
class Thread:
    """A comment and its replies, oldest first."""

    comment: ChangeSetComment
    replies: list[Thread] = field(default_factory=list)


def threads_of(session: Session, change_set_id: int) -> list[Thread]:
    """The change set's comments as threads (top-level comments oldest first)."""
    rows = list(session.scalars(select(ChangeSetComment)
                                .where(ChangeSetComment.change_set_id == change_set_id)
                                .order_by(ChangeSetComment.id)))
    by_id = {row.id: Thread(row) for row in rows}
    top: list[Thread] = []
    for row in rows:
        parent = by_id.get(row.parent_id) if row.parent_id is not None else None
        (parent.replies if parent is not None else top).append(by_id[row.id])
    return top


def by_operation(threads: list[Thread]) -> dict[int | None, list[Thread]]:
    """Threads grouped by the operation they are on (``None``: the change set itself)."""
    out: dict[int | None, list[Thread]] = {}
    for thread in threads:
        out.setdefault(thread.comment.operation_id, []).append(thread)
    return out


def latest_of(session: Session, change_set_ids: list[int]
              ) -> dict[int, tuple[int, ChangeSetComment]]:
    """For listings: each change set's number of comments and its newest one."""
    out: dict[int, tuple[int, ChangeSetComment]] = {}
    if not change_set_ids:
        return out
    for row in session.scalars(select(ChangeSetComment)
                               .where(ChangeSetComment.change_set_id.in_(change_set_ids))
                               .order_by(ChangeSetComment.id)):
        count = out[row.change_set_id][0] if row.change_set_id in out else 0
        out[row.change_set_id] = (count + 1, row)
    return out
