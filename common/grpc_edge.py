"""The gRPC edge of every service: who is calling, and domain errors turned into status codes.

One server interceptor does both, so servicers stay plain: they read `require_caller()` and raise
`common.errors` types. A request that carries a bad token is refused here, before any handler runs.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, cast

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from common import tracing
from common.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PaymentActionRequired,
    PaymentFailed,
    RateLimited,
    TicketStoreError,
    Unauthenticated,
)
from common.tokens import Caller, TokenVerifier, bearer_token

log = logging.getLogger(__name__)
_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)

STATUS_DETAILS_KEY = "grpc-status-details-bin"  # the trailer grpc_status writes and reads the google.rpc.Status in
AUTHORIZATION_KEY = "authorization"
ERROR_DOMAIN = "ticketstore"  # ErrorInfo.domain of every error we send

# Each error of the tree as a status code and an ErrorInfo reason (a stable, machine-readable code the gateway
# turns into GraphQL `extensions.code`). A subclass we do not list is sent as its nearest listed ancestor.
STATUS: dict[type[TicketStoreError], tuple[grpc.StatusCode, str]] = {
    TicketStoreError: (grpc.StatusCode.INTERNAL, "INTERNAL"),
    InvalidInput: (grpc.StatusCode.INVALID_ARGUMENT, "BAD_USER_INPUT"),
    Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"),
    Forbidden: (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN"),
    NotFound: (grpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
    AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, "CONFLICT"),
    Conflict: (grpc.StatusCode.FAILED_PRECONDITION, "CONFLICT"),
    PaymentFailed: (grpc.StatusCode.ABORTED, "PAYMENT_FAILED"),
    PaymentActionRequired: (grpc.StatusCode.ABORTED, "PAYMENT_ACTION_REQUIRED"),  # metadata: client_secret
    RateLimited: (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
}


def current_caller() -> Caller | None:
    return _caller.get()


def require_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise Unauthenticated("sign in first")
    return caller


def code_and_reason(error: TicketStoreError) -> tuple[grpc.StatusCode, str]:
    """The status code and ErrorInfo reason `error` is sent as (the base is in STATUS, so one always matches)."""
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


def status_proto(error: TicketStoreError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error: ErrorInfo always (with `client_secret` metadata for an action
    required), BadRequest with field violations, RetryInfo when rate limited."""
    code, reason = code_and_reason(error)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    if isinstance(error, PaymentActionRequired):
        info.metadata["client_secret"] = error.client_secret
    details: list[Message] = [info]
    if isinstance(error, InvalidInput):
        field_violations = [
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.message) for v in error.violations
        ]
        details.append(error_details_pb2.BadRequest(field_violations=field_violations))
    if isinstance(error, RateLimited):
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(error.retry_after_seconds)
        details.append(retry)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: TicketStoreError) -> NoReturn:
    """End the call with `error`'s status, its details in the `grpc-status-details-bin` trailer."""
    status = rpc_status.to_status(status_proto(error))
    await context.abort(status.code, status.details, status.trailing_metadata)


Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


class EdgeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Verifies the caller's token and maps errors for every unary-unary method of our services."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or not _is_ours(handler_call_details.method):
            return handler  # health checks and reflection pass untouched
        inner = cast(Behavior, handler.unary_unary)  # in grpc.aio the behaviours are coroutines
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(inner, handler_call_details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, inner: Behavior, method: str) -> Behavior:
        verifier = self._verifier

        async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            metadata = context.invocation_metadata()
            caller: Caller | None = None
            try:
                token = _token_of(metadata)
                if token is not None:
                    caller = verifier.verify(token)
            except Unauthenticated as error:
                await abort_with(context, error)
            reset = _caller.set(caller)
            try:
                with tracing.continued(metadata):  # its log lines and the events it writes keep the trace id
                    return await _served(inner, request, context, method)
            finally:
                _caller.reset(reset)

        return behavior


async def _served(inner: Behavior, request: Any, context: grpc.aio.ServicerContext[Any, Any], method: str) -> Any:
    """`inner(request, context)`, its domain errors sent as their status and anything else masked as INTERNAL."""
    try:
        return await inner(request, context)
    except TicketStoreError as error:
        await abort_with(context, error)
    except grpc.aio.AbortError:
        raise
    except Exception:
        log.exception("unhandled error in %s", method)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def _token_of(metadata: Any) -> str | None:
    """The bearer token of the `authorization` entry; "" (refused) when the entry is there but is not one."""
    for key, value in metadata or ():
        if key == AUTHORIZATION_KEY and isinstance(value, str):
            return bearer_token(value) or ""
    return None


def _is_ours(method: str) -> bool:
    return method.startswith("/ticketstore.")
