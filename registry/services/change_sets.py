"""The change-set workflow: draft → submitted → approved → published (or rejected/withdrawn).

Four-eyes: the author never approves or publishes their own change set, except the system
administrator's explicit direct publication of official imports (:func:`publish_direct`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, event, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from registry.db import bulk_insert
from registry.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
    ValidationErrors,
)
from registry.models import ChangeSet, ChangeSetComment, ChangeSetEvent, Operation
from registry.models.base import table_of
from registry.services.actors import Actor
from registry.services.operations import parse_date, parse_operation
from registry.services.plan_fingerprint import RULE, PlanChanged, fingerprint
from registry.services.planner import Plan, plan_operations
from registry.services.proposer_scope import outside_scope
from registry.services.publisher import publish_change_set
from registry.services.webhooks import outbox
from registry.text import NOTE_ALLOWS, check_text, check_url, nfc

STATUSES = ("draft", "submitted", "approved", "published", "rejected", "withdrawn")


@dataclass(frozen=True)
class LegalBasis:
    """The document a change set rests on."""

    number: str
    date: date
    issuer: str
    url: str | None = None


def parse_legal_basis(raw: Any, field: str = "legal_basis") -> LegalBasis:
    """Check a ``{number, date, issuer, url}`` object."""
    if not isinstance(raw, dict):
        raise ValidationError(field, "required", "is required as {number, date, issuer, url}")
    for name in ("number", "issuer"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise ValidationError(f"{field}.{name}", "required", "is required")
        check_text(raw[name], f"{field}.{name}")
    url = raw.get("url")
    if url is not None and not isinstance(url, str):
        raise ValidationError(f"{field}.url", "type", "must be text")
    return LegalBasis(number=nfc(raw["number"]), date=parse_date(raw.get("date"), f"{field}.date"),
                      issuer=nfc(raw["issuer"]),
                      url=check_url(url, f"{field}.url") if url and url.strip() else None)


def _check_fields(title: str, basis: LegalBasis) -> None:
    # Again here: a LegalBasis can be built without parse_legal_basis.
    check_text(title, "title")
    check_text(basis.number, "legal_basis.number")
    check_text(basis.issuer, "legal_basis.issuer")
    if basis.url is not None:
        check_url(basis.url, "legal_basis.url")


def _now() -> datetime:
    return datetime.now(UTC)


def _event(session: Session, change_set: ChangeSet, action: str, actor: Actor,
           comment: str | None = None) -> None:
    session.add(ChangeSetEvent(change_set_id=change_set.id, action=action, actor=actor.name,
                               at=_now(), comment=comment))
    if action != "publish_direct":  # its "publish" step follows, with the new status
        outbox.record_status(session, change_set, action, actor.name, comment)


def create_change_set(session: Session, actor: Actor, title: str, legal_basis: LegalBasis,
                      effective_date: date) -> ChangeSet:
    """Open a draft (a proposer's draft is a proposal)."""
    actor.require_role("steward", "approver", "proposer")
    if not title or not nfc(title):
        raise ValidationError("title", "required", "is required")
    _check_fields(title, legal_basis)
    now = _now()
    change_set = ChangeSet(
        title=nfc(title), legal_number=legal_basis.number, legal_date=legal_basis.date,
        legal_issuer=legal_basis.issuer, legal_url=legal_basis.url,
        effective_date=effective_date, status="draft", author=actor.name,
        created_at=now, updated_at=now, version=1,
        proposal_scope=actor.scope if actor.role == "proposer" else None,
    )
    session.add(change_set)
    session.flush()
    _event(session, change_set, "create", actor)
    return change_set


def get_change_set(session: Session, change_set_id: int) -> ChangeSet:
    """The change set, or :class:`NotFound`."""
    change_set = session.get(ChangeSet, change_set_id)
    if change_set is None:
        raise NotFound(f"no change set {change_set_id}")
    return change_set


def change_set_filters(status: str | None = None, mine: str | None = None,
                       proposals: bool = False) -> list[ColumnElement[bool]]:
    """The conditions of a listing: by status; ``mine``: those the named actor wrote or
    proposed; ``proposals``: those proposed by localities (every interface lists alike)."""
    found: list[ColumnElement[bool]] = []
    if status:
        if status not in STATUSES:
            raise ValidationError("status", "enum", f"must be one of: {', '.join(STATUSES)}")
        found.append(ChangeSet.status == status)
    if mine is not None:
        found.append(or_(ChangeSet.author == mine, ChangeSet.proposed_by == mine))
    if proposals:
        found.append(ChangeSet.proposal_scope.is_not(None))
    return found


def list_change_sets(session: Session, status: str | None = None, limit: int = 100,
                     mine: str | None = None, proposals: bool = False) -> list[ChangeSet]:
    """Change sets, newest first (see :func:`change_set_filters`)."""
    return list(session.scalars(select(ChangeSet)
                                .where(*change_set_filters(status, mine, proposals))
                                .order_by(ChangeSet.id.desc()).limit(limit)))


def operations_of(session: Session, change_set_id: int) -> list[Operation]:
    """The operations of a change set, in order."""
    return list(session.scalars(select(Operation).where(Operation.change_set_id == change_set_id)
                                .order_by(Operation.position)))


def operation_payloads(session: Session, change_set_id: int) -> list[dict[str, Any]]:
    """The parsed operations of a change set, in order, without loading ORM objects."""
    return list(session.scalars(select(Operation.payload)
                                .where(Operation.change_set_id == change_set_id)
                                .order_by(Operation.position)))


def _touch(change_set: ChangeSet, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != change_set.version:
        raise Conflict(f"change set {change_set.id} is at version {change_set.version}, "
                       f"not {expected_version}; reload it and try again")
    change_set.version += 1
    change_set.updated_at = _now()


def _require_status(change_set: ChangeSet, *allowed: str) -> None:
    if change_set.status not in allowed:
        raise Conflict(f"change set {change_set.id} is {change_set.status}; "
                       f"this needs it to be {' or '.join(allowed)}")


def _require_editor(change_set: ChangeSet, actor: Actor, list_key: str | None = None) -> None:
    if actor.role != "admin" and actor.name != change_set.author:
        raise PermissionDenied(f"only the author ({change_set.author}) edits change set "
                               f"{change_set.id}")
    if list_key is not None and not actor.can_edit(list_key):
        raise PermissionDenied(f"{actor.name} may not edit the list '{list_key}'")


def add_operations(session: Session, actor: Actor, change_set_id: int,
                   raw_operations: list[Any], expected_version: int | None = None,
                   *, first_index: int = 0) -> list[int]:
    """Append operations to a draft after checking their shape and the actor's lists.

    Returns the new operations' ids. Rows go in as one multi-row INSERT: official
    decisions carry tens of thousands of operations.
    """
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "draft")
    _require_editor(change_set, actor)
    parsed = [parse_operation(raw, f"operations[{first_index + i}]")
              for i, raw in enumerate(raw_operations)]
    for op in parsed:
        if actor.role != "proposer":  # a proposer's lists are a rule of its scope, below
            _require_editor(change_set, actor, op["list"])
    outside = outside_scope(session, actor, change_set.effective_date, parsed, first_index)
    if outside:
        raise ValidationErrors(outside)
    _touch(change_set, expected_version)
    position = session.scalar(select(func.coalesce(func.max(Operation.position), -1))
                              .where(Operation.change_set_id == change_set_id))
    assert position is not None
    rows = [{"change_set_id": change_set_id, "position": position + 1 + i, "op": op["op"],
             "list_key": op["list"], "payload": op} for i, op in enumerate(parsed)]
    session.flush()
    # No RETURNING: SQLite would then insert one row per statement to keep the order.
    bulk_insert(session, table_of(Operation), rows)
    return list(session.scalars(
        select(Operation.id).where(Operation.change_set_id == change_set_id,
                                   Operation.position > position)
        .order_by(Operation.position)))


def remove_operation(session: Session, actor: Actor, change_set_id: int, operation_id: int,
                     expected_version: int | None = None) -> None:
    """Remove one operation from a draft."""
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "draft")
    _require_editor(change_set, actor)
    found = session.get(Operation, operation_id)
    if found is None or found.change_set_id != change_set_id:
        raise NotFound(f"change set {change_set_id} has no operation {operation_id}")
    _touch(change_set, expected_version)
    session.execute(delete(Operation).where(Operation.id == operation_id))
    session.flush()


def preview(session: Session, change_set_id: int) -> Plan:
    """The exact diff publishing would make now, with every validation problem."""
    change_set = get_change_set(session, change_set_id)
    ops = operation_payloads(session, change_set_id)
    return plan_operations(session, change_set.effective_date, ops)


def submit(session: Session, actor: Actor, change_set_id: int,
           expected_version: int | None = None) -> ChangeSet:
    """Send a valid draft for review."""
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "draft")
    _require_editor(change_set, actor)
    ops = operation_payloads(session, change_set_id)
    if not ops:
        raise ValidationError("operations", "required", "a change set needs an operation")
    # Again at submission: a unit may have left the proposer's province since.
    outside = outside_scope(session, actor, change_set.effective_date, ops)
    if outside:
        raise ValidationErrors(outside)
    plan = plan_operations(session, change_set.effective_date, ops)
    if plan.errors:
        raise ValidationErrors(plan.errors)
    _touch(change_set, expected_version)
    change_set.status = "submitted"
    _event(session, change_set, "submit", actor)
    session.flush()
    return change_set


def _review(session: Session, actor: Actor, change_set_id: int, action: str,
            expected_version: int | None) -> ChangeSet:
    actor.require_role("approver")
    change_set = get_change_set(session, change_set_id)
    if change_set.author == actor.name:
        raise PermissionDenied(f"{actor.name} wrote change set {change_set_id} and may not "
                               f"{action} it: a second person must review it")
    _touch(change_set, expected_version)
    return change_set


def approve(session: Session, actor: Actor, change_set_id: int,
            expected_version: int | None = None, comment: str | None = None) -> ChangeSet:
    """Approve a submitted change set (never by its author)."""
    if comment is not None:
        check_text(comment, "comment", allow=NOTE_ALLOWS)
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "submitted")
    change_set = _review(session, actor, change_set_id, "approve", expected_version)
    # What the approver reviewed: publishing compares it with the plan of that moment.
    plan = plan_operations(session, change_set.effective_date,
                           operation_payloads(session, change_set_id))
    change_set.approved_plan = fingerprint(plan)
    change_set.status = "approved"
    change_set.reviewer = actor.name
    change_set.comment = comment
    _event(session, change_set, "approve", actor, comment)
    session.flush()
    return change_set


def reject(session: Session, actor: Actor, change_set_id: int, reason: str,
           expected_version: int | None = None) -> ChangeSet:
    """Reject a submitted or approved change set, with a reason."""
    if not reason or not reason.strip():
        raise ValidationError("reason", "required", "a rejection needs a reason")
    check_text(reason, "reason", allow=NOTE_ALLOWS)
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "submitted", "approved")
    change_set = _review(session, actor, change_set_id, "reject", expected_version)
    change_set.status = "rejected"
    change_set.reviewer = actor.name
    change_set.comment = nfc(reason)
    _event(session, change_set, "reject", actor, change_set.comment)
    session.flush()
    return change_set


def request_changes(session: Session, actor: Actor, change_set_id: int, comment: str,
                    expected_version: int | None = None) -> ChangeSet:
    """Send a submitted change set back to its author as a draft, saying what to change
    (the comment is kept in the journal and the review thread)."""
    actor.require_role("steward", "approver")
    if not comment or not comment.strip():
        raise ValidationError("comment", "required", "say what should change")
    check_text(comment, "comment", allow=NOTE_ALLOWS)
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "submitted")
    if change_set.author == actor.name:
        raise Conflict(f"{actor.name} wrote change set {change_set_id}: withdraw it instead")
    _touch(change_set, expected_version)
    change_set.status = "draft"
    change_set.reviewer = actor.name
    change_set.comment = nfc(comment)
    _event(session, change_set, "request_changes", actor, change_set.comment)
    session.add(ChangeSetComment(change_set_id=change_set_id, author=actor.name,
                                 body=change_set.comment, at=_now()))
    session.flush()
    return change_set


def adopt(session: Session, actor: Actor, change_set_id: int,
          expected_version: int | None = None) -> ChangeSet:
    """A central steward takes over a locality's submitted proposal as its author, to amend
    and submit it; the proposer keeps seeing it (``proposed_by``)."""
    actor.require_role("steward", "approver")
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "submitted")
    if change_set.proposed_by is not None or change_set.author == actor.name:
        raise Conflict(f"change set {change_set_id} is not a locality's proposal to adopt")
    if actor.lists is not None:
        for list_key in {op["list"] for op in operation_payloads(session, change_set_id)}:
            if not actor.can_edit(list_key):
                raise PermissionDenied(f"{actor.name} may not edit the list '{list_key}'")
    _touch(change_set, expected_version)
    change_set.proposed_by, change_set.author = change_set.author, actor.name
    change_set.status = "draft"
    _event(session, change_set, "adopt", actor, f"proposed by {change_set.proposed_by}")
    session.flush()
    return change_set


def withdraw(session: Session, actor: Actor, change_set_id: int,
             expected_version: int | None = None) -> ChangeSet:
    """The author takes back a draft or submitted change set."""
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "draft", "submitted", "approved")
    _require_editor(change_set, actor)
    _touch(change_set, expected_version)
    change_set.status = "withdrawn"
    _event(session, change_set, "withdraw", actor)
    session.flush()
    return change_set


def publish(session: Session, actor: Actor, change_set_id: int,
            expected_version: int | None = None) -> int:
    """Publish an approved change set atomically as one release; return the release.

    When the plan is no longer the one approved (another release changed its records),
    nothing is published: :class:`PlanChanged` is raised, and once the caller's
    transaction has rolled back the set is sent back to ``submitted`` with a journal
    entry saying why (see :func:`_send_back_after_rollback`).
    """
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "approved")
    seen = change_set.version
    change_set = _review(session, actor, change_set_id, "publish", expected_version)
    try:
        return _publish(session, actor, change_set, change_set.approved_plan)
    except PlanChanged:
        _send_back_after_rollback(session, change_set_id, seen, actor)
        raise


def _send_back_after_rollback(session: Session, change_set_id: int, seen: int,
                              actor: Actor) -> None:
    """Send the set back for review once ``session``'s transaction has rolled back.

    Services never commit, and every interface rolls back on a refusal: the send-back
    would vanish with the refused publication. So it is written in a transaction of its
    own right after that rollback (when the publishers' lock is released), and only if the
    set is still the approved version this publication read: a concurrent change wins.
    """
    bind = session.get_bind()

    def send_back(_: Session) -> None:
        with Session(bind=bind) as own, own.begin():
            row = own.get(ChangeSet, change_set_id, with_for_update=True)
            if row is None or row.version != seen or row.status != "approved":
                return
            row.status, row.approved_plan = "submitted", None
            row.version, row.updated_at = seen + 1, _now()
            comment = (f"{RULE}: another release changed the records this change set "
                       "changes since it was approved")
            own.add(ChangeSetEvent(change_set_id=change_set_id, action="send_back",
                                   actor=actor.name, at=_now(), comment=comment))
            outbox.record_status(own, row, "send_back", actor.name, comment)

    event.listen(session, "after_rollback", send_back, once=True)


def publish_direct(session: Session, actor: Actor, change_set_id: int) -> int:
    """Operator import of an official decision: the administrator publishes a draft at once.

    Validation still runs in full; only the second pair of eyes is waived, and the event log
    says so.
    """
    if actor.role != "admin":
        raise PermissionDenied("only the system administrator publishes without review")
    change_set = get_change_set(session, change_set_id)
    _require_status(change_set, "draft", "submitted", "approved")
    _touch(change_set, None)
    change_set.reviewer = actor.name
    _event(session, change_set, "publish_direct", actor, "official import, published by operator")
    return _publish(session, actor, change_set)


def _publish(session: Session, actor: Actor, change_set: ChangeSet,
             approved_plan: str | None = None) -> int:
    # Read before the flush: after a failed flush the session refuses every attribute load.
    change_set_id = change_set.id
    try:
        session.flush()  # claims the change set: a concurrent publisher now fails here
    except StaleDataError:
        raise Conflict(f"change set {change_set_id} was changed by someone else") from None
    ops = operation_payloads(session, change_set.id)
    release = publish_change_set(session, change_set, ops, actor.name, approved_plan)
    change_set.status = "published"
    change_set.release_id = release
    _event(session, change_set, "publish", actor)
    session.flush()
    return release


def events_of(session: Session, change_set_id: int) -> list[ChangeSetEvent]:
    """The audit trail of a change set."""
    return list(session.scalars(select(ChangeSetEvent)
                                .where(ChangeSetEvent.change_set_id == change_set_id)
                                .order_by(ChangeSetEvent.id)))
