"""One POSTed request answered by its plan, or ``None`` for the ordinary path.

The checks the ordinary path makes before executing are made here the same way, and
where one would refuse, this returns ``None`` so that the ordinary path refuses in its
own words: the variables' text (NUL, lone surrogates), their coercion, and the cost where
it depends on them. The operation metrics are recorded as the ordinary path records them;
the response cache's bookkeeping is the endpoint's (registry.graphql.routes).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, GraphQLSchema
from graphql.execution.values import VariableValues, get_variable_values

from registry.errors import RegistryError
from registry.graphql.context import Context
from registry.graphql.limits import TooCostly, check_text, operation_cost
from registry.graphql.metrics import DURATION, OPERATIONS
from registry.graphql.planned.compile import Plan, Plans, Unplanned
from registry.graphql.planned.run import Runner
from registry.graphql.schema import RULES
from registry.services.graph_reads import Reader

log = logging.getLogger("registry.graphql.planned")
_KEYS = frozenset({"query", "variables", "operationName"})


def planned_from_env(schema: GraphQLSchema) -> Planner | None:
    """The planner, unless ``REGISTRY_GRAPHQL_PLANNED=0`` turns planning off."""
    if os.environ.get("REGISTRY_GRAPHQL_PLANNED", "1").strip() == "0":
        return None
    return Planner(schema)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request that has a plan, with its variables coerced and checked."""

    query: str
    plan: Plan
    variables: VariableValues


class Planner:
    """Answers requests whose documents have a plan."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.plans = Plans(schema, RULES)

    def prepare(self, data: Any) -> Prepared | None:
        """The planned form of a decoded request body, or ``None`` (the ordinary path)."""
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
        return Prepared(query, plan, coerced)

    def execute(self, prepared: Prepared, context: Context, reader: Reader) -> bytes | None:
        """The encoded answer, read through ``reader``; ``None`` on any error (the ordinary
        path then words it). Safe in a reader thread: it touches nothing shared."""
        started = time.perf_counter()
        try:
            result = Runner(context, reader, prepared.variables).data(prepared.plan.fields)
        except (RegistryError, GraphQLError, Unplanned):
            return None
        except Exception:
            log.exception("planned execution failed; answering the ordinary way")
            return None
        OPERATIONS.labels("query", "ok").inc()
        DURATION.labels("query").observe(time.perf_counter() - started)
        return json.dumps({"data": result}, separators=(",", ":")).encode()
