"""Mutations: the whole life of a change set, and new code lists, through the services.

Each mutation is one unit of work on the request's session: it commits when the service
succeeds and rolls back on any error, so a refused write changes nothing. The work runs in
a worker thread, because publishing a large change set takes long enough to stall the
reads served by the same event loop.
"""
# strawberry types its decorators for its own mypy plugin, which the project does not
# load; called with arguments they look untyped to plain mypy.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import strawberry
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from strawberry.scalars import JSON

from registry import errors
from registry.graphql.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    PermissionDenied,
    ProblemType,
    ValidationError,
    problem_of,
)
from registry.graphql.ids import number_of
from registry.graphql.types import (
    ChangeSet,
    CodeList,
    Info,
    Release,
    change_set_object,
    code_list_object,
    release_object,
)
from registry.models import CodeList as CodeListRow
from registry.models import Release as ReleaseRow
from registry.services import change_sets, code_lists, comments, plan_cache, tokens
from registry.services.actors import Actor
from registry.services.change_sets import LegalBasis

T = TypeVar("T")

ChangeSetId = Annotated[strawberry.ID, strawberry.argument(
    description="The change set's number or global ID.")]
ExpectedVersion = Annotated[int | None, strawberry.argument(
    description="The `version` you last read; a newer one on the server is a Conflict.")]
Operations = Annotated[JSON, strawberry.argument(
    description="One operation or a list, in the change-set file vocabulary "
                "(docs/changeset-format.md).")]


@strawberry.input(description="The legal document a change set rests on.")
class LegalBasisInput:
    number: str
    date: date
    issuer: str
    url: str | None = None


@strawberry.input(description="A new draft change set.")
class CreateChangeSetInput:
    title: str
    legal_basis: LegalBasisInput
    effective_date: date
    operations: JSON | None = strawberry.field(
        default=None, description="Operations to add at once (optional).")


@strawberry.type(description="The change set after the write.")
class ChangeSetPayload:
    change_set: ChangeSet


@strawberry.type(description="The diff publishing would make now, and every problem in it.")
class PreviewPayload:
    change_set: ChangeSet
    diff: JSON
    valid: bool
    problems: list[FieldProblem]


@strawberry.type(description="The published change set and its release.")
class PublishPayload:
    change_set: ChangeSet
    release: Release


@strawberry.type(description="The lists defined and the release that carries them.")
class DefineCodeListsPayload:
    release: Release
    code_lists: list[CodeList]


ChangeSetResult = Annotated[
    ChangeSetPayload | ValidationError | PermissionDenied | NotFound | Conflict,
    strawberry.union("ChangeSetResult")]
PreviewResult = Annotated[
    PreviewPayload | ValidationError | PermissionDenied | NotFound | Conflict,
    strawberry.union("PreviewResult")]
PublishResult = Annotated[
    PublishPayload | ValidationError | PermissionDenied | NotFound | Conflict,
    strawberry.union("PublishResult")]
DefineCodeListsResult = Annotated[
    DefineCodeListsPayload | ValidationError | PermissionDenied | NotFound | Conflict,
    strawberry.union("DefineCodeListsResult")]


def _operations(raw: Any) -> list[Any]:
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list) and raw:
        return raw
    raise errors.ValidationError("operations", "type",
                                 "must be an operation object or a non-empty list of them")


async def _write(info: Info, work: Callable[[Session, Actor], T],
                 commit: bool = True) -> T | ProblemType:
    """Run ``work`` as the request's actor in one transaction; domain errors become types."""
    context = info.context
    try:
        actor = context.require_actor()
    except errors.RegistryError as exc:
        return problem_of(exc)
    session = context.session

    def unit() -> T:
        try:
            result = work(session, actor)
            if commit:
                tokens.touch(session, actor.name)
                session.commit()
            else:
                session.rollback()
            return result
        except BaseException:
            session.rollback()
            raise

    try:
        return await anyio.to_thread.run_sync(unit)
    except errors.RegistryError as exc:
        return problem_of(exc)
    except (StaleDataError, PendingRollbackError, DBAPIError) as exc:
        if not _lost_race(exc):
            raise
        return Conflict(message="the change set was changed by someone else meanwhile; "
                                "reload it and try again", code="conflict")


# PostgreSQL's codes for losing a race: serialization failure, deadlock, lock not available,
# unique violation (two writers claiming the same next number).
_RACE_CODES = frozenset({"40001", "40P01", "55P03", "23505"})


def _lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised while handling) says a concurrent writer won.

    A service that touches the session after its failed flush raises PendingRollbackError
    while handling the StaleDataError: the chain says what happened.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StaleDataError):
            return True
        if isinstance(current, DBAPIError):
            code = getattr(current.orig, "sqlstate", None) or getattr(current.orig, "pgcode",
                                                                      None)
            if code in _RACE_CODES or "database is locked" in str(current.orig):
                return True
        current = current.__cause__ or current.__context__
    return False


def _legal(raw: LegalBasisInput) -> LegalBasis:
    return change_sets.parse_legal_basis(
        {"number": raw.number, "date": raw.date.isoformat(), "issuer": raw.issuer,
         "url": raw.url}, "legalBasis")


def _id(value: strawberry.ID) -> int:
    return number_of(str(value), "ChangeSet", "changeSetId")


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Open a draft change set (steward or approver), with "
                                     "operations if given.")
    async def create_change_set(self, info: Info, input: CreateChangeSetInput) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            row = change_sets.create_change_set(session, actor, input.title,
                                                _legal(input.legal_basis), input.effective_date)
            if input.operations is not None:
                change_sets.add_operations(session, actor, row.id, _operations(input.operations))
            return ChangeSetPayload(change_set=change_set_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="Append operations to a draft (its author only, on the "
                                     "lists the author may edit).")
    async def add_operations(self, info: Info, change_set_id: ChangeSetId,
                             operations: Operations,
                             expected_version: ExpectedVersion = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            number = _id(change_set_id)
            existing = len(change_sets.operations_of(session, number))
            change_sets.add_operations(session, actor, number, _operations(operations),
                                       expected_version, first_index=existing)
            return ChangeSetPayload(change_set=change_set_object(
                change_sets.get_change_set(session, number)))

        return await _write(info, work)

    @strawberry.mutation(description="Remove one operation from a draft.")
    async def remove_operation(self, info: Info, change_set_id: ChangeSetId, operation_id: int,
                               expected_version: ExpectedVersion = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            number = _id(change_set_id)
            change_sets.remove_operation(session, actor, number, operation_id, expected_version)
            return ChangeSetPayload(change_set=change_set_object(
                change_sets.get_change_set(session, number)))

        return await _write(info, work)

    @strawberry.mutation(description="The diff publishing would make now; writes nothing.")
    async def preview_change_set(self, info: Info,
                                 change_set_id: ChangeSetId) -> PreviewResult:
        def work(session: Session, actor: Actor) -> PreviewPayload:
            number = _id(change_set_id)
            row = change_sets.get_change_set(session, number)
            # Planned once per state of the change set, shared with changeSet.preview.
            diff = plan_cache.plan_of(session, row).diff()
            problems = [FieldProblem(field=p["field"], rule=p["rule"], message=p["message"])
                        for p in diff["errors"]]
            return PreviewPayload(change_set=change_set_object(row), diff=JSON(diff),
                                  valid=not problems, problems=problems)

        return await _write(info, work, commit=False)

    @strawberry.mutation(description="Send a valid draft for review (its author).")
    async def submit_change_set(self, info: Info, change_set_id: ChangeSetId,
                                expected_version: ExpectedVersion = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            row = change_sets.submit(session, actor, _id(change_set_id), expected_version)
            return ChangeSetPayload(change_set=change_set_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="Approve a submitted change set (an approver who is not "
                                     "its author: four eyes).")
    async def approve_change_set(self, info: Info, change_set_id: ChangeSetId,
                                 expected_version: ExpectedVersion = None,
                                 comment: str | None = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            row = change_sets.approve(session, actor, _id(change_set_id), expected_version,
                                      comment)
            return ChangeSetPayload(change_set=change_set_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="Reject a submitted or approved change set, with a reason.")
    async def reject_change_set(self, info: Info, change_set_id: ChangeSetId, reason: str,
                                expected_version: ExpectedVersion = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            row = change_sets.reject(session, actor, _id(change_set_id), reason,
                                     expected_version)
            return ChangeSetPayload(change_set=change_set_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="Comment on a change set under review, or on one of "
                                     "its operations (`operationId`), or answer a comment "
                                     "(`replyTo`). Its author or proposer, stewards, "
                                     "approvers and administrators.")
    async def add_comment(self, info: Info, change_set_id: ChangeSetId, body: str,
                          operation_id: int | None = None,
                          reply_to: int | None = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            number = _id(change_set_id)
            comments.add_comment(session, actor, number, body, operation_id, reply_to)
            return ChangeSetPayload(change_set=change_set_object(
                change_sets.get_change_set(session, number)))

        return await _write(info, work)

    @strawberry.mutation(description="Send a submitted change set back to its author as a "
                                     "draft, saying what should change (a steward or "
                                     "approver who is not its author).")
    async def request_changes(self, info: Info, change_set_id: ChangeSetId, comment: str,
                              expected_version: ExpectedVersion = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            row = change_sets.request_changes(session, actor, _id(change_set_id), comment,
                                              expected_version)
            return ChangeSetPayload(change_set=change_set_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="A central steward takes over a locality's submitted "
                                     "proposal as its author, to amend and submit it.")
    async def adopt_change_set(self, info: Info, change_set_id: ChangeSetId,
                               expected_version: ExpectedVersion = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            row = change_sets.adopt(session, actor, _id(change_set_id), expected_version)
            return ChangeSetPayload(change_set=change_set_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="The author takes a change set back.")
    async def withdraw_change_set(self, info: Info, change_set_id: ChangeSetId,
                                  expected_version: ExpectedVersion = None) -> ChangeSetResult:
        def work(session: Session, actor: Actor) -> ChangeSetPayload:
            row = change_sets.withdraw(session, actor, _id(change_set_id), expected_version)
            return ChangeSetPayload(change_set=change_set_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="Publish an approved change set as one release (an "
                                     "approver who is not its author).")
    async def publish_change_set(self, info: Info, change_set_id: ChangeSetId,
                                 expected_version: ExpectedVersion = None) -> PublishResult:
        def work(session: Session, actor: Actor) -> PublishPayload:
            number = _id(change_set_id)
            release = change_sets.publish(session, actor, number, expected_version)
            row = session.get(ReleaseRow, release)
            assert row is not None
            return PublishPayload(change_set=change_set_object(
                change_sets.get_change_set(session, number)), release=release_object(row))

        return await _write(info, work)

    @strawberry.mutation(description="Define new code lists, or change existing ones, in one "
                                     "release (administrators; docs/list-format.md).")
    async def define_code_lists(self, info: Info, definitions: JSON) -> DefineCodeListsResult:
        def work(session: Session, actor: Actor) -> DefineCodeListsPayload:
            given: Any = definitions
            raw: list[Any] = [given] if isinstance(given, dict) else given
            if not isinstance(raw, list) or not raw or not all(isinstance(d, dict) for d in raw):
                raise errors.ValidationError("definitions", "type",
                                             "must be a list definition or a list of them")
            release = code_lists.define_lists(session, actor, raw)
            keys = [d.get("key") for d in raw]
            rows = session.scalars(select(CodeListRow).where(CodeListRow.key.in_(keys))
                                   .order_by(CodeListRow.key))
            row = session.get(ReleaseRow, release)
            assert row is not None
            return DefineCodeListsPayload(release=release_object(row),
                                          code_lists=[code_list_object(r) for r in rows])

        return await _write(info, work)
