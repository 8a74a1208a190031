"""Domain errors as typed GraphQL results, and the masking of everything else.

A mutation returns a union of its payload and these types, so a client handles a refused
write with a `__typename` switch instead of parsing messages. Reads raise: a domain error
becomes a GraphQL error whose ``extensions`` carry the code, field and rule; any other
exception is a bug, logged in full and shown to the client only as "Unexpected error."
"""
# strawberry types its decorators for its own mypy plugin, which the project does not
# load; called with arguments they look untyped to plain mypy.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from registry import errors


@strawberry.interface(description="Why a write was refused.")
class Problem:
    message: str
    code: str


@strawberry.type(description="One broken rule: where, which rule, and why.")
class FieldProblem:
    field: str
    rule: str
    message: str


@strawberry.type(description="The input breaks rules; nothing was written. `field` and "
                             "`rule` name the first problem, `problems` lists them all.")
class ValidationError(Problem):
    field: str
    rule: str
    problems: list[FieldProblem]


@strawberry.type(description="The actor may not do this (or is not authenticated).")
class PermissionDenied(Problem):
    pass


@strawberry.type(description="The named object does not exist.")
class NotFound(Problem):
    pass


@strawberry.type(description="The object changed since it was read (optimistic version "
                             "check), or its state does not allow this.")
class Conflict(Problem):
    pass


ProblemType = ValidationError | PermissionDenied | NotFound | Conflict


def _problem(e: errors.ValidationError) -> FieldProblem:
    return FieldProblem(field=e.field, rule=e.rule, message=e.detail)


def problem_of(exc: errors.RegistryError) -> ProblemType:
    """The typed result of a domain error."""
    if isinstance(exc, errors.ValidationErrors):
        problems = [_problem(e) for e in exc.errors]
        first = problems[0] if problems else FieldProblem(field="", rule="", message="")
        return ValidationError(message=exc.message, code="validation", field=first.field,
                               rule=first.rule, problems=problems)
    if isinstance(exc, errors.ValidationError):
        return ValidationError(message=exc.message, code="validation", field=exc.field,
                               rule=exc.rule, problems=[_problem(exc)])
    if isinstance(exc, errors.PermissionDenied):
        return PermissionDenied(message=exc.message, code=exc.code)
    if isinstance(exc, errors.NotFound):
        return NotFound(message=exc.message, code=exc.code)
    return Conflict(message=exc.message, code=exc.code)


def _extensions(exc: errors.RegistryError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": exc.code}
    if isinstance(exc, errors.ValidationError):
        out.update(field=exc.field, rule=exc.rule)
    elif isinstance(exc, errors.ValidationErrors):
        out["problems"] = [{"field": e.field, "rule": e.rule, "message": e.detail}
                           for e in exc.errors]
    return out


class ShapeErrors(MaskErrors):
    """Domain errors keep their message and gain typed extensions; the rest are masked.

    GraphQL's own errors (syntax, validation, limits) have no original exception and are
    shown as they are: they describe the client's document, not the server.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._should_mask)

    @staticmethod
    def _should_mask(error: GraphQLError) -> bool:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return False
        return not isinstance(original, errors.RegistryError)

    def _process_errors(self, found: list[GraphQLError]) -> list[GraphQLError]:
        out = []
        for error in found:
            original = error.original_error
            if isinstance(original, errors.RegistryError):
                out.append(GraphQLError(original.message, nodes=error.nodes,
                                        source=error.source, positions=error.positions,
                                        path=error.path, original_error=None,
                                        extensions=_extensions(original)))
            elif self.should_mask_error(error):
                out.append(self.anonymise_error(error))
            else:
                out.append(error)
        return out
