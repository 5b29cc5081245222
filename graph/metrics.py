"""Prometheus figures per GraphQL operation name."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from strawberry.extensions import SchemaExtension

OPERATIONS = Counter("valueverse_graphql_operations_total", "GraphQL operations", ["operation", "type", "outcome"])
LATENCY = Histogram(
    "valueverse_graphql_operation_seconds",
    "GraphQL operation latency",
    ["operation", "type"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        ctx = self.execution_context
        name = ctx.operation_name if ctx.operation_name and _NAME.match(ctx.operation_name) else "anonymous"
        try:
            kind = ctx.operation_type.value
        except Exception:  # the document did not parse: there is no operation type
            kind = "invalid"
        outcome = "error" if ctx.result is not None and ctx.result.errors else "ok"
        OPERATIONS.labels(name, kind, outcome).inc()
        LATENCY.labels(name, kind).observe(time.perf_counter() - started)
