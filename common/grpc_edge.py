"""The gRPC edge of every service: who is calling, and domain errors turned into status codes.

One server interceptor does both, so servicers stay plain: they read `require_caller()` and raise
`TicketStoreError` subclasses. A request that carries a bad token is refused here, before any handler runs.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from common.errors import ERROR_DOMAIN, InvalidInput, TicketStoreError, Unauthenticated
from common.tokens import Caller, TokenVerifier

log = logging.getLogger(__name__)
_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)

STATUS_DETAILS_KEY = "grpc-status-details-bin"
AUTHORIZATION_KEY = "authorization"


def current_caller() -> Caller | None:
    return _caller.get()


def require_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise Unauthenticated("sign in first")
    return caller


def bearer_token(metadata: Any) -> str | None:
    """The token of an `authorization: Bearer <token>` metadata entry, if any."""
    for key, value in metadata or ():
        if key == AUTHORIZATION_KEY and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return None


def status_proto(error: TicketStoreError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error: ErrorInfo always, BadRequest with field violations."""
    details = []
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN)
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if isinstance(error, InvalidInput):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.message)
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        details.append(packed)
    return status_pb2.Status(code=error.status.value[0], message=error.message, details=details)


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: TicketStoreError) -> None:
    context.set_trailing_metadata(((STATUS_DETAILS_KEY, status_proto(error).SerializeToString()),))
    await context.abort(error.status, error.message)


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
            caller: Caller | None = None
            try:
                token = bearer_token(context.invocation_metadata())
                if token is not None:
                    caller = verifier.verify(token)
            except Unauthenticated as error:
                await abort_with(context, error)
            reset = _caller.set(caller)
            try:
                return await inner(request, context)
            except TicketStoreError as error:
                await abort_with(context, error)
            except grpc.aio.AbortError:
                raise
            except Exception:
                log.exception("unhandled error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                _caller.reset(reset)

        return behavior


def _is_ours(method: str) -> bool:
    return method.startswith("/ticketstore.")
