"""Schema extensions: masking of unexpected errors, and their logging; the depth limit."""

from __future__ import annotations

import logging
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
from strawberry.extensions import MaskErrors

from gateway.errors import INTERNAL_MESSAGE, ApiError, Code

log = logging.getLogger(__name__)
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
