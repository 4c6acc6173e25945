"""Errors a client sees: gRPC status codes of the backends turned into GraphQL `extensions.code` (SPEC.md).

    UNAUTHENTICATED                      -> UNAUTHENTICATED
    PERMISSION_DENIED                    -> FORBIDDEN
    NOT_FOUND                            -> NOT_FOUND
    INVALID_ARGUMENT                     -> BAD_USER_INPUT, with `fields` from google.rpc.BadRequest
    FAILED_PRECONDITION, ALREADY_EXISTS  -> CONFLICT
    ABORTED + ErrorInfo PAYMENT_FAILED   -> PAYMENT_FAILED
    ABORTED + ErrorInfo PAYMENT_ACTION_REQUIRED -> PAYMENT_ACTION_REQUIRED, with `clientSecret` from the
                                         ErrorInfo's `client_secret` metadata (3-D Secure: the client completes the
                                         PaymentIntent with Stripe.js, then asks again); masked without a secret
    RESOURCE_EXHAUSTED + RATE_LIMITED    -> RATE_LIMITED, with `retryAfterSeconds` from google.rpc.RetryInfo
    anything else (UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, a Python exception...) -> INTERNAL, masked

Only `ApiError`s reach a client as they are; `gateway.extensions.MaskInternalErrors` replaces every other error
raised while resolving with a masked INTERNAL one and logs the original.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from graphql import GraphQLError
from grpc_status import rpc_status

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error"


class Code(enum.StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_ACTION_REQUIRED = "PAYMENT_ACTION_REQUIRED"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


class ApiError(GraphQLError):
    """An error the client may see as it is: a message and `extensions.code` (plus `fields` for bad input)."""

    def __init__(self, code: Code, message: str, fields: list[dict[str, str]] | None = None, **extra: Any) -> None:
        extensions: dict[str, Any] = {"code": code.value, **extra}
        if fields is not None:
            extensions["fields"] = fields
        super().__init__(message, extensions=extensions)
        self.code = code

    @classmethod
    def bad_input(cls, field: str, message: str) -> ApiError:
        return cls(Code.BAD_USER_INPUT, "invalid input", [{"field": field, "message": message}])

    @classmethod
    def rate_limited(cls, message: str, retry_after_seconds: int) -> ApiError:
        return cls(Code.RATE_LIMITED, message, retryAfterSeconds=max(1, retry_after_seconds))

    @classmethod
    def internal(cls) -> ApiError:
        return cls(Code.INTERNAL, INTERNAL_MESSAGE)


_SIMPLE: dict[grpc.StatusCode, Code] = {
    grpc.StatusCode.UNAUTHENTICATED: Code.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: Code.FORBIDDEN,
    grpc.StatusCode.NOT_FOUND: Code.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: Code.CONFLICT,
    grpc.StatusCode.ALREADY_EXISTS: Code.CONFLICT,
}
PAYMENT_FAILED_REASON = "PAYMENT_FAILED"
PAYMENT_ACTION_REQUIRED_REASON = "PAYMENT_ACTION_REQUIRED"
RATE_LIMITED_REASON = "RATE_LIMITED"


def status_details(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status a service attached to a failed call (`grpc-status-details-bin`), if any."""
    try:
        # An AioRpcError has the synchronous accessors (code, details, trailing metadata) that from_call reads.
        status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, error))
    except (ValueError, DecodeError):  # garbled, or not matching the call's code: no reason to fail harder
        log.warning("ignoring the unusable status details of a %s error", error.code().name)
        return None
    return status


def field_violations(status: status_pb2.Status | None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.extend((v.field, v.description) for v in bad_request.field_violations)
    return found


def error_info(status: status_pb2.Status | None) -> error_details_pb2.ErrorInfo | None:
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def error_reason(status: status_pb2.Status | None) -> str:
    info = error_info(status)
    return "" if info is None else str(info.reason)


def retry_after_seconds(status: status_pb2.Status | None) -> int:
    for detail in status.details if status is not None else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return max(1, int(info.retry_delay.seconds))
    return 1


def graphql_name(proto_field: str, renames: Mapping[str, str] | None = None) -> str:
    """The GraphQL argument a proto request field came from: `renames` first, else snake_case -> camelCase.

    price_cents -> priceCents, ticket_id -> ticketId, order_id -> orderId, payment_method -> paymentMethod.
    A nested path (`a.b_c`) keeps its dots.
    """
    if renames and proto_field in renames:
        return renames[proto_field]
    return ".".join(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), part) for part in proto_field.split("."))


def from_rpc_error(error: grpc.aio.AioRpcError, method: str, renames: Mapping[str, str] | None = None) -> ApiError:
    """The client-facing error for a failed backend call. Unexpected codes are logged and masked."""
    code = error.code()
    message = error.details() or ""
    if code in _SIMPLE:
        return ApiError(_SIMPLE[code], message or code.name.lower().replace("_", " "))
    status = status_details(error)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        fields = [{"field": graphql_name(f, renames), "message": m} for f, m in field_violations(status)]
        return ApiError(Code.BAD_USER_INPUT, message or "invalid input", fields)
    if code is grpc.StatusCode.ABORTED and error_reason(status) == PAYMENT_FAILED_REASON:
        return ApiError(Code.PAYMENT_FAILED, message or "payment failed")
    info = error_info(status)
    if code is grpc.StatusCode.ABORTED and info is not None and info.reason == PAYMENT_ACTION_REQUIRED_REASON:
        client_secret = info.metadata.get("client_secret", "")
        if client_secret:
            return ApiError(
                Code.PAYMENT_ACTION_REQUIRED, message or "payment requires authentication", clientSecret=client_secret
            )
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and error_reason(status) == RATE_LIMITED_REASON:
        return ApiError.rate_limited(message or "too many requests", retry_after_seconds(status))
    log.error("%s failed: %s %s", method, code.name, message)
    return ApiError.internal()
