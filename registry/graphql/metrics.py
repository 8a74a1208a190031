"""Prometheus metrics of GraphQL operations (served at ``/metrics`` by the app)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram
from strawberry.extensions import SchemaExtension

OPERATIONS = Counter("registry_graphql_operations_total",
                     "GraphQL operations by type and outcome.", ["type", "outcome"])
CACHE = Counter("registry_graphql_cache_total",
                "Cacheable GraphQL requests by result: hit (served without executing) or miss.",
                ["result"])
PATHS = Counter("registry_graphql_path_total",
                "POSTed GraphQL requests by how they were answered: planned (a compiled plan of a "
                "common read) or ordinary (field by field).", ["path"])
READERS = Gauge("registry_graphql_reader_connections",
                "Connections the planned reads hold open beside the event loop (PostgreSQL).",
                multiprocess_mode="livesum")
DURATION = Histogram("registry_graphql_operation_seconds",
                     "Time to execute one GraphQL operation.", ["type"],
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                              10))


class OperationMetrics(SchemaExtension):
    """Counts operations (``ok``, ``error`` or ``refused`` before execution) and times them."""

    def on_operation(self) -> Iterator[None]:
        """Time the operation, then count it by type and outcome."""
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except RuntimeError:  # the document did not parse: there is no operation
            kind = "unknown"
        result = context.result
        if context.pre_execution_errors and result is None:
            outcome = "refused"
        elif result is not None and result.errors:
            outcome = "error" if result.data is not None else "refused"
        else:
            outcome = "ok"
        OPERATIONS.labels(kind, outcome).inc()
        DURATION.labels(kind).observe(time.perf_counter() - started)
