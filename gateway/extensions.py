"""Schema extensions: masking of unexpected errors, and their logging."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from gateway.errors import INTERNAL_MESSAGE, ApiError, Code

log = logging.getLogger(__name__)


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
