"""Schema extensions: masking of unexpected errors, and their logging; metrics and a trace span per operation;
the depth limit."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types.graphql import OperationType

from common import metrics
from common.tracing import root_span
from gateway.errors import INTERNAL_MESSAGE, ApiError, Code

log = logging.getLogger(__name__)
MAX_OPERATION_NAMES = 200  # clients choose operation names: beyond this many, new ones are counted as "other"
INVALID_DOCUMENT = "GRAPHQL_VALIDATION_FAILED"  # a document that does not parse or validate (Apollo's code)
_CODES = {code.value for code in Code}
_names: set[str] = set()
INTROSPECTION_DEPTH = 15


def is_unexpected(error: GraphQLError) -> bool:
    """An error raised while resolving that is not one of ours: its message may leak internals."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskInternalErrors(MaskErrors):
    """Every unexpected error becomes `internal error` with `extensions.code` INTERNAL. Our `ApiError`s and
    GraphQL's own document/validation errors pass unchanged. The original is logged by `GatewaySchema`."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message=INTERNAL_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": Code.INTERNAL.value},
        )


def log_errors(errors: list[GraphQLError]) -> None:
    for error in errors:
        if is_unexpected(error):
            log.error("unexpected error at %s: %s", error.path, error.message, exc_info=error.original_error)
        elif isinstance(error.original_error, ApiError) and error.original_error.code is Code.INTERNAL:
            log.error("internal error at %s (details logged above)", error.path)
        else:
            log.debug("client error at %s: %s", error.path, error.message)


class Observe(SchemaExtension):
    """Per operation: a trace span (the parent of the gRPC calls its resolvers make), and its count by name, type
    and outcome code, and latency (ticketstore_graphql_operation*, common.metrics). Kept cheap: it runs for every
    operation, and without an exporter its span records nothing (common.tracing.root_span)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        self._span = root_span("graphql operation")
        try:
            yield
        finally:
            self._finish(time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        # Current while resolvers run, so backend calls join the trace. Not for a subscription: its stream may be
        # closed from another task, where the context could not be detached.
        if self._operation_type() == "subscription":
            yield
            return
        token = otel_context.attach(trace.set_span_in_context(self._span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def _operation_type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except Exception:  # noqa: BLE001 (no document: it did not parse)
            return "unknown"

    def _finish(self, seconds: float) -> None:
        context = self.execution_context
        name, kind = operation_label(context.operation_name), self._operation_type()
        result = context.result
        code = outcome_code((result.errors if result is not None else None) or context.pre_execution_errors or [])
        if metrics.enabled():
            count, latency = _operation_series(name, kind, code)
            count.inc()
            if kind != OperationType.SUBSCRIPTION.value:  # a subscription's "latency" is its lifetime
                latency.observe(seconds)
        span = self._span
        if span.is_recording():
            span.update_name(f"{kind} {name}")
            span.set_attributes({"graphql.operation.name": name, "graphql.operation.type": kind,
                                 "graphql.outcome": code})  # fmt: skip
            if code == Code.INTERNAL.value:
                span.set_status(Status(StatusCode.ERROR, code))
        span.end()


@functools.lru_cache(maxsize=4 * MAX_OPERATION_NAMES)
def _operation_series(name: str, kind: str, code: str) -> tuple[Any, Any]:
    """An operation's series, looked up once (`labels()` takes a lock and builds a key on every call)."""
    return metrics.GRAPHQL_OPERATIONS.labels(name, kind, code), metrics.GRAPHQL_SECONDS.labels(name, kind)


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if name not in _names:
        if len(_names) >= MAX_OPERATION_NAMES:
            return "other"
        _names.add(name)
    return name


def outcome_code(errors: list[GraphQLError]) -> str:
    """OK, or the first error's `extensions.code` (INTERNAL for an unexpected one, before masking)."""
    if not errors:
        return "OK"
    error = errors[0]
    code = (error.extensions or {}).get("code")
    if isinstance(code, str) and code in _CODES:
        return code
    return Code.INTERNAL.value if is_unexpected(error) else INVALID_DOCUMENT


def max_depth_rule(max_depth: int) -> type[ValidationRule]:
    """Strawberry's QueryDepthLimiter with introspection counted too (it skips `__schema` and `__type`, so a deep
    introspection query went unlimited). A field with a selection set adds one level, as there."""

    def depth(
        selections: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
    ) -> int:
        deepest = 0
        for selection in selections.selections if selections is not None else ():
            if isinstance(selection, FieldNode):
                if selection.selection_set is not None:
                    deepest = max(deepest, 1 + depth(selection.selection_set, fragments, seen))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, depth(selection.selection_set, fragments, seen))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:  # a cycle is reported by GraphQL's own rule
                    deepest = max(deepest, depth(fragments[name].selection_set, fragments, seen | {name}))
            if deepest > max_depth:
                break  # deep enough to refuse: stop walking
        return deepest

    class MaxDepth(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            document = self.context.document
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            roots = [s.name.value for s in node.selection_set.selections if isinstance(s, FieldNode)]
            # Introspection has a bound of its own: GraphiQL's standard query nests types 13 deep.
            limit = max(max_depth, INTROSPECTION_DEPTH) if any(r.startswith("__") for r in roots) else max_depth
            if depth(node.selection_set, fragments, frozenset()) > limit:
                name = node.name.value if node.name else "anonymous"
                self.report_error(GraphQLError(f"'{name}' exceeds maximum operation depth of {limit}", node))

    return MaxDepth
