"""Metrics, trace context and log lines of common: the RPC interceptor counts final status codes, the bus carries
W3C trace context and counts deliveries, the outbox continues the trace of the code that wrote the event, logs
carry trace ids, and the metrics endpoint serves the process's registry."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from pymongo import AsyncMongoClient

from common import events, logs, metrics, tracing
from common.bus import Delivery, EventBus, Outcome
from common.errors import NotFound
from common.grpc_server import GrpcServer
from common.mongo import connect, in_transaction
from common.outbox import Outbox
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.servers import RunningServer
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


class Collected(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@pytest.fixture(scope="module")
def spans() -> Collected:
    """A recording tracer for this module's tests (the process-wide provider can be set once: tests share it)."""
    collected = Collected()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(collected))
    return collected


class Tickets(tickets_pb2_grpc.TicketsServiceServicer):
    async def GetTicket(self, request: tickets_pb2.GetTicketRequest, context: Any) -> tickets_pb2.GetTicketResponse:
        if request.id == "missing":
            raise NotFound("no such ticket")
        return tickets_pb2.GetTicketResponse(ticket=tickets_pb2.Ticket(id=request.id))


async def test_rpcs_are_counted_by_method_and_final_status(jwt_keys: JwtKeys) -> None:
    server = GrpcServer(lambda s: tickets_pb2_grpc.add_TicketsServiceServicer_to_server(Tickets(), s),  # type: ignore[abstract]
                        ["ticketstore.tickets.v1.TicketsService"], jwt_keys.verifier, "127.0.0.1", 0)  # fmt: skip
    labels = {"grpc_service": "ticketstore.tickets.v1.TicketsService", "grpc_method": "GetTicket"}
    ok_before = value("grpc_server_handled_total", **labels, grpc_code="OK")
    missing_before = value("grpc_server_handled_total", **labels, grpc_code="NOT_FOUND")
    timed_before = value("grpc_server_handling_seconds_count", **labels)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = tickets_pb2_grpc.TicketsServiceStub(channel)
            meta = bearer(jwt_keys.issuer.issue("u1", "u1@example.com").token)
            await stub.GetTicket(tickets_pb2.GetTicketRequest(id="t1"), metadata=meta)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetTicket(tickets_pb2.GetTicketRequest(id="missing"), metadata=meta)
    finally:
        await server.stop(0)
    assert value("grpc_server_handled_total", **labels, grpc_code="OK") == ok_before + 1
    assert value("grpc_server_handled_total", **labels, grpc_code="NOT_FOUND") == missing_before + 1
    assert value("grpc_server_handling_seconds_count", **labels) == timed_before + 2


@pytest.fixture
async def mongo(mongo_server: RunningServer) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client = connect(mongo_server.url, "observability-test")
    yield client
    await client.close()


async def test_an_event_continues_the_trace_that_wrote_it_and_its_delivery_is_counted(
    bus: EventBus, mongo: AsyncMongoClient[dict[str, Any]], mongo_db: str, spans: Collected
) -> None:
    db_name = mongo_db
    outbox = Outbox(mongo, db_name, bus, service="obs-test")
    await outbox.ensure_indexes()
    seen: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
    consumer_name = f"obs-{uuid.uuid4().hex[:8]}"
    ticket_id = uuid.uuid4().hex

    async def handler(message: Any, delivery: Delivery) -> Outcome:
        if message.ticket_id == ticket_id and not seen.done():
            seen.set_result(delivery)
        return Outcome.APPLIED

    consumer = await bus.consume(consumer_name, "ticket.>", {events.TICKET_UPDATED: handler})
    try:
        with tracing.TRACER.start_as_current_span("request") as request:
            message = ticket_events.TicketUpdated(ticket_id=ticket_id, version=1)

            async def work(session: Any) -> None:
                await outbox.add(session, events.TICKET_UPDATED, message, ticket_id, 1)

            await in_transaction(mongo, work)
        assert await outbox.flush() == 1
        delivery = await asyncio.wait_for(seen, 10)
        request_trace = format(request.get_span_context().trace_id, "032x")
        assert delivery.trace_id == request_trace

        def by_name(name: str) -> ReadableSpan | None:
            return next((s for s in spans.spans if s.name == name and s.context.trace_id == int(request_trace, 16)),
                        None)  # fmt: skip

        async def ended(name: str) -> ReadableSpan | None:
            return by_name(name)

        publish = await eventually(lambda: ended(f"{events.TICKET_UPDATED} publish"))
        process = await eventually(lambda: ended(f"{events.TICKET_UPDATED} process"))
        assert publish.parent is not None and publish.parent.span_id == request.get_span_context().span_id
        assert process.parent is not None and process.parent.span_id == publish.context.span_id

        async def applied() -> float:
            return value("ticketstore_events_delivered_total", consumer=consumer_name, subject=events.TICKET_UPDATED,
                         outcome="applied")  # fmt: skip

        assert await eventually(applied) == 1
        assert value("ticketstore_outbox_published_total", service="obs-test", subject=events.TICKET_UPDATED) == 1
        await outbox.sample_backlog()
        assert value("ticketstore_outbox_backlog", service="obs-test") == 0
        await consumer.sample_lag()
        assert value("ticketstore_consumer_pending", consumer=consumer_name) == 0
    finally:
        await consumer.stop()
        await mongo.drop_database(db_name)


def test_log_lines_carry_the_trace_id_as_json_in_production(
    spans: Collected, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("INFO", "obs-test", json_lines=True)
    try:
        with tracing.TRACER.start_as_current_span("logged") as span:
            logging.getLogger("obs").info("hello %s", "world")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        logging.basicConfig(force=True)
    context = span.get_span_context()
    assert line["service"] == "obs-test" and line["level"] == "INFO" and line["message"] == "hello world"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


@pytest.mark.integration  # an HTTP server on a port
def test_the_metrics_endpoint_serves_the_process_registry() -> None:
    port = metrics.serve(0, "127.0.0.1")
    assert port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        body = reply.read().decode()
    assert "grpc_server_handled_total" in body and "process_cpu_seconds_total" in body
    assert metrics.serve(None, "127.0.0.1") is None
