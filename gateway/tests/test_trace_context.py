"""Without an exporter, calls carry the trace context with no interceptor on either side: the gateway sends it
(common.tracing.call_metadata) and the service's edge makes it current (common.tracing.continued), so the trace id
of a request still reaches every service's logs and the events it writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import strawberry
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from common import tracing
from common.grpc_server import GrpcServer
from common.testing.plugin import JwtKeys
from gateway.clients import Backends
from gateway.extensions import Observe
from gateway.settings import GatewaySettings
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

GET_TICKET = "/ticketstore.tickets.v1.TicketsService/GetTicket"
TRACER = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test")  # as deployed without an exporter


class Tickets(tickets_pb2_grpc.TicketsServiceServicer):
    """Records the metadata of every call it serves, and the trace id current while serving it."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []
        self.trace_ids: list[str] = []

    async def GetTicket(self, request: tickets_pb2.GetTicketRequest, context: Any) -> tickets_pb2.GetTicketResponse:
        self.metadata.append({key: str(value) for key, value in context.invocation_metadata()})
        self.trace_ids.append(tracing.trace_id())
        return tickets_pb2.GetTicketResponse(ticket=tickets_pb2.Ticket(id=request.id))


@pytest.fixture
async def tickets(jwt_keys: JwtKeys, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Tickets, Backends]]:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    tracing.reread_environment()
    servicer = Tickets()  # type: ignore[abstract]
    server = GrpcServer(lambda s: tickets_pb2_grpc.add_TicketsServiceServicer_to_server(servicer, s),
                        ["ticketstore.tickets.v1.TicketsService"], jwt_keys.verifier, "127.0.0.1", 0)  # fmt: skip
    await server.start()
    backends = Backends(GatewaySettings(tickets_grpc_target=server.target))
    yield servicer, backends
    await backends.close()
    await server.stop(0)
    monkeypatch.undo()  # the environment as it was, for the tests after this one
    tracing.reread_environment()


async def test_a_call_sends_the_trace_context_and_is_counted(
    tickets: tuple[Tickets, Backends], jwt_keys: JwtKeys
) -> None:
    servicer, backends = tickets
    token = jwt_keys.issuer.issue("u1", "u1@example.com").token
    with TRACER.start_as_current_span("graphql operation") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        await backends.call(backends.tickets.GetTicket, tickets_pb2.GetTicketRequest(id="t1"), token)
    await backends.call(backends.tickets.GetTicket, tickets_pb2.GetTicketRequest(id="t2"), None)
    inside, outside = servicer.metadata
    assert inside["traceparent"].split("-")[1] == trace_id
    assert inside["authorization"] == f"Bearer {token}"
    assert "traceparent" not in outside  # no trace: nothing made up
    assert servicer.trace_ids == [trace_id, ""]
    assert backends.calls[GET_TICKET] == 2


async def test_with_tracing_disabled_no_trace_context_is_sent(
    tickets: tuple[Tickets, Backends], monkeypatch: pytest.MonkeyPatch
) -> None:
    servicer, backends = tickets
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    tracing.reread_environment()
    with TRACER.start_as_current_span("graphql operation"):
        await backends.call(backends.tickets.GetTicket, tickets_pb2.GetTicketRequest(id="t1"), None)
    assert len(servicer.metadata) == 1
    assert "traceparent" not in servicer.metadata[0]


async def test_each_operation_is_a_new_trace_current_while_its_resolvers_run(
    tickets: tuple[Tickets, Backends],
) -> None:
    servicer, backends = tickets

    @strawberry.type
    class Query:
        @strawberry.field
        async def seen(self) -> str:
            await backends.call(backends.tickets.GetTicket, tickets_pb2.GetTicketRequest(id="t1"), None)
            return tracing.trace_id()

    schema = strawberry.Schema(query=Query, extensions=[Observe])
    answers = [await schema.execute("query Seen { seen }") for _ in range(2)]
    ids = [answer.data["seen"] for answer in answers if answer.data]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(len(trace_id) == 32 and int(trace_id, 16) for trace_id in ids)
    assert servicer.trace_ids == ids  # the backend served each call inside its operation's trace
    assert tracing.trace_id() == ""  # and none is left current afterwards
