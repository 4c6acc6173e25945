"""The edge interceptor of a service other than auth_svc refuses expired and tampered tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import errors
from common.errors import Conflict, FieldViolation, InvalidInput
from common.grpc_edge import STATUS, code_and_reason, require_caller
from common.grpc_server import GrpcServer
from common.testing.grpc import bearer, error_reason, field_violations
from common.testing.plugin import JwtKeys
from common.tokens import bearer_token
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc


class ProbeTickets(tickets_pb2_grpc.TicketsServiceServicer):
    """A servicer whose answers reveal what the edge passed through."""

    async def GetTicket(self, request: tickets_pb2.GetTicketRequest, context: Any) -> tickets_pb2.GetTicketResponse:
        caller = require_caller()
        if request.id == "conflict":
            raise Conflict("ticket is reserved")
        if request.id == "bad":
            raise InvalidInput([FieldViolation("id", "malformed")])
        if request.id == "crash":
            raise RuntimeError("secret detail")
        return tickets_pb2.GetTicketResponse(ticket=tickets_pb2.Ticket(id=request.id, seller_id=caller.user_id))


@pytest.fixture
async def stub(jwt_keys: JwtKeys):  # type: ignore[no-untyped-def]
    server = GrpcServer(
        lambda s: tickets_pb2_grpc.add_TicketsServiceServicer_to_server(ProbeTickets(), s),  # type: ignore[abstract]
        ["ticketstore.tickets.v1.TicketsService"],
        jwt_keys.verifier,
        "127.0.0.1",
        0,
    )
    await server.start()
    async with grpc.aio.insecure_channel(server.target) as channel:
        yield tickets_pb2_grpc.TicketsServiceStub(channel), health_pb2_grpc.HealthStub(channel)
    await server.stop(0)


async def get(stub, ident: str, metadata=()):  # type: ignore[no-untyped-def]
    return await stub[0].GetTicket(tickets_pb2.GetTicketRequest(id=ident), metadata=metadata)


async def test_valid_token_reaches_the_handler(stub, jwt_keys: JwtKeys) -> None:  # type: ignore[no-untyped-def]
    token = jwt_keys.issuer.issue("u1", "u1@example.com").token
    reply = await get(stub, "t1", bearer(token))
    assert reply.ticket.seller_id == "u1"


async def test_expired_tampered_or_missing_tokens_are_refused(stub, jwt_keys: JwtKeys) -> None:  # type: ignore[no-untyped-def]
    expired = jwt_keys.issuer.issue("u1", "e@x.io", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).token
    good = jwt_keys.issuer.issue("u1", "e@x.io").token
    header, payload, signature = good.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for metadata in (
        bearer(expired),
        bearer(f"{header}.{forged_payload}.{signature}"),
        bearer("garbage"),
        (),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await get(stub, "t1", metadata)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_domain_errors_map_to_status_codes_and_unexpected_ones_are_masked(stub, jwt_keys: JwtKeys) -> None:  # type: ignore[no-untyped-def]
    meta = bearer(jwt_keys.issuer.issue("u1", "e@x.io").token)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get(stub, "conflict", meta)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ticket is reserved",
    )
    assert error_reason(caught.value) == "CONFLICT"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get(stub, "bad", meta)
    assert field_violations(caught.value) == {"id": "malformed"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get(stub, "crash", meta)
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert "secret" not in (caught.value.details() or "")


async def test_health_is_served_without_a_token(stub) -> None:  # type: ignore[no-untyped-def]
    reply = await stub[1].Check(health_pb2.HealthCheckRequest(service="ticketstore.tickets.v1.TicketsService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_graceful_stop_reports_not_serving_then_lets_calls_finish(jwt_keys: JwtKeys) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow(tickets_pb2_grpc.TicketsServiceServicer):
        async def GetTicket(self, request: Any, context: Any) -> tickets_pb2.GetTicketResponse:
            entered.set()
            await release.wait()
            return tickets_pb2.GetTicketResponse(ticket=tickets_pb2.Ticket(id="late"))

    server = GrpcServer(
        lambda s: tickets_pb2_grpc.add_TicketsServiceServicer_to_server(Slow(), s),  # type: ignore[abstract]
        ["ticketstore.tickets.v1.TicketsService"],
        jwt_keys.verifier,
        "127.0.0.1",
        0,
    )
    await server.start()
    async with grpc.aio.insecure_channel(server.target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        in_flight = asyncio.ensure_future(tickets_pb2_grpc.TicketsServiceStub(channel).GetTicket(
            tickets_pb2.GetTicketRequest(id="x")))  # fmt: skip
        await asyncio.wait_for(entered.wait(), 10)  # the call is in the handler: in flight
        stopping = asyncio.ensure_future(server.stop(grace=2))  # the open Watch stream lasts the whole grace
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        release.set()
        assert (await in_flight).ticket.id == "late"
        await stopping


def test_every_error_of_the_tree_has_its_own_status() -> None:
    # The mapping lives at the edge, away from the classes: a new error class must be added to it.
    classes = (kind for kind in vars(errors).values() if isinstance(kind, type))
    tree = {kind for kind in classes if issubclass(kind, errors.TicketStoreError)}
    assert tree == set(STATUS)
    assert code_and_reason(errors.PaymentFailed("declined")) == (grpc.StatusCode.ABORTED, "PAYMENT_FAILED")

    class Unlisted(errors.NotFound):
        pass

    assert code_and_reason(Unlisted("gone")) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == bearer_token(" bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token("Bearer ") is None and bearer_token(None) is None
