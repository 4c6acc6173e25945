"""Helpers for tests that call our gRPC services as a client would."""

from __future__ import annotations

from typing import cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status the service sent, or one with only the code and message if it sent no details."""
    # from_call reads only code(), details() and trailing_metadata(), which an AioRpcError answers like a grpc.Call
    found = rpc_status.from_call(cast(grpc.Call, error))
    return found or status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """field -> description, from the google.rpc.BadRequest detail."""
    found: dict[str, str] = {}
    for detail in status_of(error).details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.update({v.field: v.description for v in bad_request.field_violations})
    return found


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The google.rpc.ErrorInfo detail (an empty one when the service sent none)."""
    for detail in status_of(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return error_details_pb2.ErrorInfo()


def error_reason(error: grpc.aio.AioRpcError) -> str:
    return str(error_info(error).reason)
