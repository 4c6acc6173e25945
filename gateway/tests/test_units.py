"""Pure parts of the gateway, without servers: status mapping, session transport, settings, limits, masking."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
import strawberry
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from starlette.responses import Response

from common.errors import FieldViolation, InvalidInput, PaymentActionRequired, PaymentFailed
from common.grpc_edge import STATUS_DETAILS_KEY, status_proto
from gateway.documents import document_too_large
from gateway.errors import Code, from_rpc_error, graphql_name
from gateway.extensions import MaskInternalErrors
from gateway.sessions import Sessions, bearer
from gateway.settings import GatewaySettings

PROD: dict[str, Any] = {"environment": "prod", "stripe_publishable_key": "pk_live_example"}


def rpc_error(code: grpc.StatusCode, details: str = "", status: status_pb2.Status | None = None) -> Any:
    trailers = grpc.aio.Metadata()
    if status is not None:
        trailers.add(STATUS_DETAILS_KEY, status.SerializeToString())
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, Code.UNAUTHENTICATED),
        (grpc.StatusCode.PERMISSION_DENIED, Code.FORBIDDEN),
        (grpc.StatusCode.NOT_FOUND, Code.NOT_FOUND),
        (grpc.StatusCode.FAILED_PRECONDITION, Code.CONFLICT),
        (grpc.StatusCode.ALREADY_EXISTS, Code.CONFLICT),
        (grpc.StatusCode.ABORTED, Code.INTERNAL),  # ABORTED without the PAYMENT_FAILED reason
        (grpc.StatusCode.UNAVAILABLE, Code.INTERNAL),
        (grpc.StatusCode.DEADLINE_EXCEEDED, Code.INTERNAL),
        (grpc.StatusCode.INTERNAL, Code.INTERNAL),
        (grpc.StatusCode.UNKNOWN, Code.INTERNAL),
    ],
)
def test_status_codes_map_to_extension_codes(status: grpc.StatusCode, expected: Code) -> None:
    error = from_rpc_error(rpc_error(status, "secret backend detail"), "/x.Y/Z")
    assert error.extensions == {"code": expected.value}
    if expected is Code.INTERNAL:
        assert error.message == "internal error"


def test_invalid_argument_names_the_graphql_arguments() -> None:
    violations = [FieldViolation("price_cents", "too low"), FieldViolation("title", "empty")]
    error = from_rpc_error(
        rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid input", status_proto(InvalidInput(violations))), "m"
    )
    assert error.extensions == {
        "code": "BAD_USER_INPUT",
        "fields": [{"field": "priceCents", "message": "too low"}, {"field": "title", "message": "empty"}],
    }
    renamed = from_rpc_error(
        rpc_error(
            grpc.StatusCode.INVALID_ARGUMENT, "invalid input", status_proto(InvalidInput.single("page_size", "1..100"))
        ),
        "m",
        {"page_size": "first"},
    )
    assert renamed.extensions == {"code": "BAD_USER_INPUT", "fields": [{"field": "first", "message": "1..100"}]}
    bare = from_rpc_error(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad"), "m")
    assert bare.extensions == {"code": "BAD_USER_INPUT", "fields": []}


def test_payment_failed_needs_its_error_info_reason() -> None:
    declined = from_rpc_error(
        rpc_error(grpc.StatusCode.ABORTED, "card declined", status_proto(PaymentFailed("card declined"))), "m"
    )
    assert (declined.extensions, declined.message) == ({"code": "PAYMENT_FAILED"}, "card declined")
    other = error_details_pb2.ErrorInfo(reason="SOMETHING_ELSE")
    packed = any_pb2.Any()
    packed.Pack(other)
    status = status_pb2.Status(code=10, message="x", details=[packed])
    assert from_rpc_error(rpc_error(grpc.StatusCode.ABORTED, "x", status), "m").extensions == {"code": "INTERNAL"}


def test_payment_action_required_carries_the_client_secret() -> None:
    needs = PaymentActionRequired("pi_123_secret_abc")
    error = from_rpc_error(rpc_error(grpc.StatusCode.ABORTED, needs.message, status_proto(needs)), "m")
    assert error.extensions == {"code": "PAYMENT_ACTION_REQUIRED", "clientSecret": "pi_123_secret_abc"}
    assert error.message == needs.message
    # Without its client secret the answer is useless to a client: masked like any unexpected failure.
    bare = error_details_pb2.ErrorInfo(reason="PAYMENT_ACTION_REQUIRED")
    packed = any_pb2.Any()
    packed.Pack(bare)
    status = status_pb2.Status(code=10, message="x", details=[packed])
    assert from_rpc_error(rpc_error(grpc.StatusCode.ABORTED, "x", status), "m").extensions == {"code": "INTERNAL"}


@pytest.mark.parametrize(
    ("proto", "graphql"),
    [
        ("price_cents", "priceCents"),
        ("ticket_id", "ticketId"),
        ("order_id", "orderId"),
        ("payment_method", "paymentMethod"),
        ("id", "id"),
        ("email", "email"),
    ],
)
def test_proto_fields_become_argument_names(proto: str, graphql: str) -> None:
    assert graphql_name(proto) == graphql


def test_bearer_parsing() -> None:
    assert bearer("Bearer abc") == bearer("bearer   abc ") == "abc"
    assert bearer("Basic abc") is None and bearer("Bearer ") is None and bearer(None) is None


def test_websocket_tokens_come_from_connection_init_in_any_case_then_the_cookie() -> None:
    sessions = Sessions(GatewaySettings(environment="test"))
    cookie = {"session": "from-cookie"}
    assert sessions.token_from_ws({"Authorization": "Bearer a"}, cookie) == "a"
    assert sessions.token_from_ws({"AUTHORIZATION": "Bearer b"}, {}) == "b"
    assert sessions.token_from_ws({}, cookie) == "from-cookie"
    assert sessions.token_from_ws({"Authorization": 5}, {}) is None
    assert sessions.token_from_http({"authorization": "Bearer h"}, cookie) == "h"
    assert sessions.token_from_http({}, cookie) == "from-cookie"


def cookie_attributes(response: Response) -> dict[str, str]:
    """The one Set-Cookie header's pairs, lower-case attribute names (flags map to "")."""
    (header,) = response.headers.getlist("set-cookie")
    name_value, *attributes = (part.strip() for part in header.split(";"))
    name, _, value = name_value.partition("=")
    found = {"name": name, "value": value}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        found[key.lower()] = val
    return found


def test_the_cookie_lasts_as_long_as_the_token() -> None:
    sessions = Sessions(GatewaySettings(**PROD, session_max_age_seconds=86_400))
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert sessions.max_age(now + dt.timedelta(hours=1), now=now) == 3600
    assert sessions.max_age(now + dt.timedelta(days=30), now=now) == 86_400  # capped
    assert sessions.max_age(now - dt.timedelta(seconds=5), now=now) == 0
    response = Response()
    sessions.set_cookie(response, "tok", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    cookie = cookie_attributes(response)
    assert (cookie["name"], cookie["value"], cookie["path"]) == ("__Host-session", "tok", "/")
    assert 3590 <= int(cookie["max-age"]) <= 3600
    assert cookie["samesite"].lower() == "lax" and {"httponly", "secure"} <= set(cookie)
    cleared = Response()
    sessions.clear_cookie(cleared)
    gone = cookie_attributes(cleared)
    assert (gone["name"], gone["value"].strip('"'), gone["max-age"], gone["path"]) == ("__Host-session", "", "0", "/")
    assert {"expires", "httponly", "secure"} <= set(gone)


def test_settings_defaults() -> None:
    settings = GatewaySettings()
    assert (settings.gateway_host, settings.gateway_port) == ("127.0.0.1", 8000)
    assert (settings.auth_grpc_target, settings.payments_grpc_target) == ("127.0.0.1:50051", "127.0.0.1:50054")
    assert (settings.max_query_depth, settings.max_aliases, settings.max_document_bytes) == (12, 30, 16_384)
    assert (settings.cookie_name, settings.session_max_age_seconds) == ("session", 86_400)
    assert GatewaySettings(environment="dev").cookie_secure is False
    assert GatewaySettings(environment="test").cookie_secure is False
    assert GatewaySettings(**PROD).cookie_secure is True
    assert GatewaySettings(environment="test", cookie_secure=True).cookie_secure is True


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_live_example")
    monkeypatch.setenv("GATEWAY_PORT", "9000")
    monkeypatch.setenv("ORDERS_GRPC_TARGET", "orders:50053")
    settings = GatewaySettings()
    assert (settings.gateway_port, settings.orders_grpc_target, settings.cookie_secure) == (9000, "orders:50053", True)


def test_document_size_counts_utf8_bytes() -> None:
    assert not document_too_large("x" * 10, 10)
    assert document_too_large("x" * 11, 10)
    assert document_too_large("é" * 6, 10)  # 6 characters, 12 bytes
    assert not document_too_large("é" * 5, 10)


async def test_unexpected_errors_are_masked_and_ours_pass() -> None:
    from gateway.errors import ApiError

    @strawberry.type
    class Query:
        @strawberry.field
        def boom(self) -> str:
            raise RuntimeError("password=hunter2 at /srv/secret.py line 3")

        @strawberry.field
        def ours(self) -> str:
            raise ApiError(Code.NOT_FOUND, "no such thing")

    schema = strawberry.Schema(query=Query, extensions=[MaskInternalErrors])
    result = await schema.execute("{ boom }")
    assert result.errors is not None
    assert [(e.message, e.extensions) for e in result.errors] == [("internal error", {"code": "INTERNAL"})]
    ours = await schema.execute("{ ours }")
    assert ours.errors is not None
    assert [(e.message, e.extensions) for e in ours.errors] == [("no such thing", {"code": "NOT_FOUND"})]
    invalid = await schema.execute("{ nope }")  # a document error: shown as GraphQL wrote it
    assert invalid.errors is not None and "Cannot query field 'nope'" in invalid.errors[0].message
