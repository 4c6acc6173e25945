"""End-to-end operations: every process's metrics endpoint after a purchase, and one trace across the gateway,
orders_svc, the outbox, NATS and tickets_svc, received by a real OTLP/gRPC receiver (docs/OPERATIONS.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.parser import text_string_to_metric_families

from common.devstack import SERVICES, Stack
from tests.client import Client, GraphQLError
from tests.helpers import email, gateway_url, start_stack

pytestmark = pytest.mark.e2e

CREATE_TICKET = "mutation CreateTicket($t: String!, $p: Int!) { createTicket(title: $t, priceCents: $p) { id } }"
CREATE_ORDER = "mutation CreateOrder($id: ID!) { createOrder(ticketId: $id) { id status } }"
PAY = ("mutation PayOrder($id: ID!, $pm: String!) { payOrder(orderId: $id, paymentMethod: $pm) "
       "{ id amountCents } }")  # fmt: skip
ORDERS = "ticketstore.orders.v1.OrdersService"
PAYMENTS = "ticketstore.payments.v1.PaymentsService"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Purchase:
    order_id: str
    order_attempts: int  # createOrder is retried until orders_svc has heard of the new ticket
    pay_attempts: int  # payOrder likewise until payments_svc has heard of the order


async def retried(client: Client, query: str, variables: dict[str, Any], timeout: float = 20) -> tuple[Any, int]:
    """Run until it stops answering NOT_FOUND (an event not yet arrived) or CONFLICT ("try again shortly");
    returns the data and the attempts."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            return await client.execute(query, variables), attempts
        except GraphQLError as error:
            if error.code not in ("NOT_FOUND", "CONFLICT") or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def purchase(stack: Stack) -> Purchase:
    seller, buyer = Client(gateway_url(stack)), Client(gateway_url(stack))
    try:
        await seller.sign_up(email("ops-seller"))
        await buyer.sign_up(email("ops-buyer"))
        ticket = (await seller.execute(CREATE_TICKET, {"t": "Operations gig", "p": 3100}))["createTicket"]
        order, order_attempts = await retried(buyer, CREATE_ORDER, {"id": ticket["id"]})
        _, pay_attempts = await retried(buyer, PAY, {"id": order["createOrder"]["id"], "pm": "pm_card_visa"})
        return Purchase(order["createOrder"]["id"], order_attempts, pay_attempts)
    finally:
        await seller.close()
        await buyer.close()


# --- metrics ---


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient(timeout=5) as http:
        reply = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert reply.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}  # fmt: skip


async def scrape_all(stack: Stack) -> dict[str, Samples]:
    names = [*SERVICES, "gateway"]
    return dict(zip(names, await asyncio.gather(*(scrape(stack.metrics_port(n)) for n in names)), strict=True))


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_every_process_serves_the_metrics_of_a_purchase(live_stack: Stack) -> None:
    before = await scrape_all(live_stack)
    bought = await purchase(live_stack)

    def check(after: dict[str, Samples]) -> None:
        def d(process: str, name: str, **labels: str) -> float:
            return delta(before[process], after[process], name, **labels)

        # The gateway: each operation by name and outcome, timed.
        assert d("gateway", "ticketstore_graphql_operations_total", operation="CreateOrder", type="mutation",
                 code="OK") == 1  # fmt: skip
        assert d("gateway", "ticketstore_graphql_operations_total", operation="CreateOrder", type="mutation",
                 code="NOT_FOUND") == bought.order_attempts - 1  # fmt: skip
        assert d("gateway", "ticketstore_graphql_operations_total", operation="PayOrder", type="mutation",
                 code="OK") == 1  # fmt: skip
        assert d("gateway", "ticketstore_graphql_operation_seconds_count", operation="CreateOrder",
                 type="mutation") == bought.order_attempts  # fmt: skip
        # The services: RPCs by method and status code.
        assert d("orders_svc", "grpc_server_handled_total", grpc_service=ORDERS, grpc_method="CreateOrder",
                 grpc_code="OK") == 1  # fmt: skip
        assert d("orders_svc", "grpc_server_handled_total", grpc_service=ORDERS, grpc_method="CreateOrder",
                 grpc_code="NOT_FOUND") == bought.order_attempts - 1  # fmt: skip
        assert d("payments_svc", "grpc_server_handled_total", grpc_service=PAYMENTS, grpc_method="CreatePayment",
                 grpc_code="OK") == 1  # fmt: skip
        assert d("auth_svc", "grpc_server_handled_total", grpc_service="ticketstore.auth.v1.AuthService",
                 grpc_method="SignUp", grpc_code="OK") == 2  # fmt: skip
        # The outbox relays: order.created and order.completed from orders, the ticket's changes from tickets.
        assert d("orders_svc", "ticketstore_outbox_published_total", service="orders_svc", subject="order.created") == 1
        assert d("orders_svc", "ticketstore_outbox_published_total", service="orders_svc",
                 subject="order.completed") == 1  # fmt: skip
        assert d("orders_svc", "ticketstore_outbox_relay_seconds_count", service="orders_svc") >= 2
        assert d("tickets_svc", "ticketstore_outbox_published_total", service="tickets_svc",
                 subject="ticket.created") == 1  # fmt: skip
        # The consumers: order.created applied once by each service that follows orders.
        for consumer in ("tickets_svc", "payments_svc", "expiration_svc"):
            assert d(consumer, "ticketstore_events_delivered_total", consumer=consumer, subject="order.created",
                     outcome="applied") == 1, consumer  # fmt: skip
            assert d(consumer, "ticketstore_event_handler_seconds_count", consumer=consumer,
                     subject="order.created") >= 1  # fmt: skip
        assert d("orders_svc", "ticketstore_events_delivered_total", consumer="orders_svc", subject="ticket.created",
                 outcome="applied") == 1  # fmt: skip
        # Stripe, called by payments_svc, and nothing dead-lettered anywhere.
        assert d("payments_svc", "ticketstore_stripe_calls_total", call="confirm", outcome="ok") == 1
        for process, samples in after.items():
            dead = [k for k, v in samples.items() if k[0] == "ticketstore_events_dead_lettered_total" and v]
            assert not dead, (process, dead)

    deadline = time.monotonic() + 20
    while True:  # the consumers and relays run after the API answered
        after = await scrape_all(live_stack)
        try:
            check(after)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    # Sampled gauges exist in every process that has them (refreshed every few seconds).
    assert ("ticketstore_consumer_pending", frozenset({("consumer", "tickets_svc")})) in after["tickets_svc"]
    assert ("ticketstore_outbox_backlog", frozenset({("service", "orders_svc")})) in after["orders_svc"]
    assert ("ticketstore_expiration_timers_pending", frozenset()) in after["expiration_svc"]
    assert ("ticketstore_websocket_connections", frozenset()) in after["gateway"]


# --- traces ---


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A minimal OTLP/gRPC trace receiver: keeps every span with the service.name of its resource."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Span]] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((attributes.get("service.name", "?"), span) for span in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    server = grpc.aio.server()
    found = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(found, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield found, port
    await server.stop(0)


@pytest.fixture
def traced_stack(receiver: tuple[Receiver, int], tmp_path: Path) -> Iterator[Stack]:
    _, port = receiver
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    stack = start_stack(tmp_path / "stack", 60, env)
    try:
        yield stack
    finally:
        stack.stop()


async def test_one_purchase_is_one_trace_across_gateway_services_and_events(
    traced_stack: Stack, receiver: tuple[Receiver, int]
) -> None:
    found, _ = receiver
    await traced_stack.wait_healthy(timeout=90)
    await purchase(traced_stack)

    def one(spans: list[tuple[str, Span]], service: str, name: str) -> Span:
        matching = [s for svc, s in spans if svc == service and s.name == name]
        assert len(matching) == 1, f"{service} {name}: {len(matching)} spans"
        return matching[0]

    deadline = time.monotonic() + 30
    while True:  # spans are exported in batches, and the event hops run after the API answered
        try:
            operation = next(s for svc, s in found.spans if svc == "gateway" and s.name == "mutation CreateOrder"
                             and any(a.key == "graphql.outcome" and a.value.string_value == "OK"
                                     for a in s.attributes))  # fmt: skip
            trace = [(svc, s) for svc, s in found.spans if s.trace_id == operation.trace_id]
            call = one(trace, "gateway", f"/{ORDERS}/CreateOrder")
            served = one(trace, "orders_svc", f"/{ORDERS}/CreateOrder")
            created = one(trace, "orders_svc", "order.created publish")
            reserved_at_tickets = one(trace, "tickets_svc", "order.created process")
            updated = one(trace, "tickets_svc", "ticket.updated publish")
            live = one(trace, "gateway", "ticket.updated process")
            replica = one(trace, "orders_svc", "ticket.updated process")
            break
        except (StopIteration, AssertionError) as error:
            if time.monotonic() > deadline:
                seen = sorted({(svc, s.name) for svc, s in found.spans})
                raise AssertionError(f"no complete purchase trace ({error!r}); spans received: {seen}") from error
            await asyncio.sleep(0.2)
    # Each hop is the child of the one before: gateway -> orders_svc -> outbox -> NATS -> tickets_svc -> its
    # outbox -> the gateway's live hub (and orders_svc's ticket replica).
    assert call.parent_span_id == operation.span_id
    assert served.parent_span_id == call.span_id
    assert created.parent_span_id == served.span_id
    assert reserved_at_tickets.parent_span_id == created.span_id
    assert updated.parent_span_id == reserved_at_tickets.span_id
    assert live.parent_span_id == updated.span_id
    assert replica.parent_span_id == updated.span_id
    assert {svc for svc, _ in trace} >= {"gateway", "orders_svc", "tickets_svc"}
