"""The schema, with its safety limits: depth, aliases, tokens, introspection depth, cost.

Depth, aliases and cost are checked by :class:`CostLimiter` in one pass that summarises
each fragment once, before graphql-core's rules run (strawberry's own depth and alias
limiters expand fragments, exponentially in a small hostile document). Only then does
validation run, through a bounded cache.

Batching (several operations in one HTTP request) is off by default: a batch multiplies
every limit here. ``REGISTRY_GRAPHQL_BATCH=N`` accepts up to N operations per request.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import ASTValidationRule, MaxIntrospectionDepthRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.types.base_scalars import DateDefinition, wrap_parser
from strawberry.types import ExecutionContext

from registry.dates import iso_day
from registry.errors import RegistryError
from registry.graphql.caching import ResponseCache
from registry.graphql.errors import ShapeErrors
from registry.graphql.limits import (
    MAX_TOKENS,
    BoundedValidationCache,
    CostLimiter,
    TokenBudget,
)
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
        """Log unexpected errors with their traceback; the client sees them masked."""
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, RegistryError | GraphQLError):
                continue
            log.error("unexpected error in %s: %s", ".".join(map(str, error.path or [])),
                      original, exc_info=original)


# The rule list is made once: the validation cache is keyed by the rules as well as the
# document, so rules rebuilt per request would miss the cache on every request.
RULES: list[type[ASTValidationRule]] = [MaxIntrospectionDepthRule]


class Limits(AddValidationRules):
    """The introspection-depth limit, checked while validating."""

    def __init__(self) -> None:
        super().__init__(RULES)


def _extensions() -> list[Any]:
    limits: list[type[SchemaExtension] | Any] = [
        Limits,
        TokenBudget,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        CostLimiter,
        ResponseCache,
        ShapeErrors,
        OperationMetrics,
        # Bounded, so that unique documents cannot grow memory without limit.
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: BoundedValidationCache(maxsize=CACHE_SIZE),
    ]
    return limits


# Dates as every other interface reads them: YYYY-MM-DD only (Python's parser also takes
# 20250701, which a client would then believe the API accepts).
STRICT_DATE = dataclasses.replace(DateDefinition, parse_value=wrap_parser(iso_day, "Date"))


def build_schema(batch: int = 0) -> strawberry.Schema:
    """The registry's GraphQL schema; ``batch`` > 0 accepts that many operations per request."""
    return RegistrySchema(
        query=Query, mutation=Mutation,
        types=[AdministrativeUnit, Agency, Procedure, GenericEntry],
        extensions=_extensions(),
        scalar_overrides={date: STRICT_DATE},
        config=StrawberryConfig(
            batching_config={"max_operations": batch} if batch > 0 else None,
            relay_max_results=100),
    )


schema = build_schema()
