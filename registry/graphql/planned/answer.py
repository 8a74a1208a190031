"""One POSTed request answered by its plan, or ``None`` for the ordinary path.

The checks the ordinary path makes before executing are made here the same way, and
where one would refuse, this returns ``None`` so that the ordinary path refuses in its
own words: the variables' text (NUL, lone surrogates), their coercion, and the cost where
it depends on them. What the extensions of the ordinary path record (the response cache's
release and verdict, the operation metrics) is recorded here too.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from graphql import GraphQLError, GraphQLSchema
from graphql.execution.values import get_variable_values

from registry.errors import RegistryError
from registry.graphql.caching import DOCUMENTS
from registry.graphql.context import Context
from registry.graphql.limits import TooCostly, check_text, operation_cost
from registry.graphql.metrics import DURATION, OPERATIONS
from registry.graphql.planned.compile import Plans, Unplanned
from registry.graphql.planned.run import Runner
from registry.graphql.schema import RULES

log = logging.getLogger("registry.graphql.planned")
_KEYS = frozenset({"query", "variables", "operationName"})


def planned_from_env(schema: GraphQLSchema) -> Planner | None:
    """The planner, unless ``REGISTRY_GRAPHQL_PLANNED=0`` turns planning off."""
    if os.environ.get("REGISTRY_GRAPHQL_PLANNED", "1").strip() == "0":
        return None
    return Planner(schema)


class Planner:
    """Answers requests whose documents have a plan."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.plans = Plans(schema, RULES)

    def answer(self, data: Any, context: Context) -> bytes | None:
        """The encoded answer to a decoded request body, or ``None``."""
        if not isinstance(data, dict) or not _KEYS.issuperset(data):
            return None
        query, variables = data.get("query"), data.get("variables") or {}
        operation_name = data.get("operationName")
        if (not isinstance(query, str) or not isinstance(variables, dict)
                or not (operation_name is None or isinstance(operation_name, str))):
            return None
        plan = self.plans.get(query, operation_name)
        if plan is None:
            return None
        coerced = get_variable_values(self.schema, plan.operation.variable_definitions or [],
                                      variables)
        if isinstance(coerced, list):
            return None
        try:
            check_text(variables, "variables")
            if plan.cost_varies:
                operation_cost(self.schema, plan.document, operation_name, variables)
        except TooCostly:
            return None
        started = time.perf_counter()
        caching = context.cache is not None and context.cache.maxsize > 0
        if caching:
            # Read before executing, as the ordinary path's ResponseCache does: the answer
            # is filed under a release no newer than the data it was computed from.
            context.cache_release = context.latest()
        try:
            result = Runner(context, coerced).data(plan.fields)
        except (RegistryError, GraphQLError, Unplanned):
            return None  # the ordinary path says what is wrong
        except Exception:
            log.exception("planned execution failed; answering the ordinary way")
            return None
        if caching:
            DOCUMENTS.add(query)
            context.cache_ok = True
        OPERATIONS.labels("query", "ok").inc()
        DURATION.labels("query").observe(time.perf_counter() - started)
        return json.dumps({"data": result}, separators=(",", ":")).encode()
