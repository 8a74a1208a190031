"""The schema, with its safety limits: depth, aliases, tokens, introspection depth, cost.

Batching (several operations in one HTTP request) is off: strawberry refuses a JSON list
body unless ``batching_config`` is set, and a batch would multiply every limit here.
"""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from registry.errors import RegistryError
from registry.graphql.errors import ShapeErrors
from registry.graphql.limits import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, CostLimiter
from registry.graphql.metrics import OperationMetrics
from registry.graphql.mutation import Mutation
from registry.graphql.query import Query
from registry.graphql.types import AdministrativeUnit, Agency, GenericEntry, Procedure

CACHE_SIZE = 256
log = logging.getLogger("registry.graphql")


class RegistrySchema(strawberry.Schema):
    """Logs only what is a bug: domain errors and refused documents are the client's."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, RegistryError | GraphQLError):
                continue
            log.error("unexpected error in %s: %s", ".".join(map(str, error.path or [])),
                      original, exc_info=original)


def _extensions() -> list[Any]:
    limits: list[type[SchemaExtension] | SchemaExtension | Any] = [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules([MaxIntrospectionDepthRule]),
        CostLimiter,
        ShapeErrors,
        OperationMetrics,
        # Bounded, so that unique documents cannot grow memory without limit.
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]
    return limits


def build_schema() -> strawberry.Schema:
    """The registry's GraphQL schema."""
    return RegistrySchema(
        query=Query, mutation=Mutation,
        types=[AdministrativeUnit, Agency, Procedure, GenericEntry],
        extensions=_extensions(),
        config=StrawberryConfig(batching_config=None, relay_max_results=100),
    )


schema = build_schema()
