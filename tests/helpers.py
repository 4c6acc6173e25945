"""Helpers of the end-to-end tests (fixtures live in conftest.py): the whole stack as subprocesses, the operations
the tests send, and users and tickets made through the gateway."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from common.devstack import Stack
from common.testing import servers
from tests.client import Client, GraphQLError, eventually

ORDER_WINDOW_SECONDS = 60
WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"  # built by `make web`; the gateway serves it at /


def start_stack(data_dir: Path, order_window: int, extra_env: dict[str, str] | None = None) -> Stack:
    """The stack as `make dev` starts it (first-run files, servers, services), on free ports, in test mode."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"MONGO_URL", "NATS_URL", "REDIS_URL", "STRIPE_API_BASE", "JWT_PRIVATE_KEY_FILE",
                          "JWT_PUBLIC_KEY_FILE"}}  # fmt: skip
    env.update({
        "ENVIRONMENT": "test",
        "ORDER_EXPIRATION_SECONDS": str(order_window),
        "GRACE_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        "WEB_DIST_DIR": str(WEB_DIST),
        **(extra_env or {}),
    })  # fmt: skip
    stack = Stack.on_free_ports(data_dir, env)
    stack.prepare()
    stack.start_infrastructure()
    stack.start_services()
    return stack


@contextlib.contextmanager
def running_stack(data_dir: Path, order_window: int, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`start_stack`, stopped afterwards."""
    running = start_stack(data_dir, order_window, extra_env)
    try:
        yield running
        refused = [
            v for server in running.servers if server.name == "nats" for v in servers.permission_violations(server)
        ]
        assert not refused, "NATS refused a process (common/natsauth.py too narrow?):\n" + "\n".join(refused[:10])
    finally:
        running.stop()


def gateway_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.ports['gateway']}"


async def stripe_refunds(stack: Stack, intent_id: str) -> list[dict[str, Any]]:
    """The refunds of PaymentIntent `intent_id`, as the stack's Stripe emulator holds them."""
    async with httpx.AsyncClient(base_url=stack.env["STRIPE_API_BASE"], timeout=10) as stripe:
        response = await stripe.get(
            "/v1/refunds",
            params={"payment_intent": intent_id},
            auth=(stack.service_env()["STRIPE_API_KEY"], ""),
        )
    response.raise_for_status()
    refunds: list[dict[str, Any]] = response.json()["data"]
    return refunds


CREATE_TICKET = "mutation($t: String!, $p: Int!) { createTicket(title: $t, priceCents: $p) { id status version } }"
TICKET = "query($id: ID!) { ticket(id: $id) { id status version priceCents } }"
CREATE_ORDER = "mutation($id: ID!) { createOrder(ticketId: $id) { id status expiresAt version ticket { id } } }"
CANCEL_ORDER = "mutation($id: ID!) { cancelOrder(id: $id) { id status version } }"
PAY = ("mutation($id: ID!, $pm: String!) { payOrder(orderId: $id, paymentMethod: $pm) "
       "{ id orderId stripeId amountCents } }")  # fmt: skip
ORDER = "query($id: ID!) { order(id: $id) { id status version ticket { id status } } }"
MY_ORDERS = "{ myOrders { id status ticket { id title } } }"
TICKET_STATUS = "subscription($id: ID!) { ticketStatus(ticketId: $id) { ticketId status version orderId } }"
ORDER_STATUS = "subscription($id: ID!) { orderStatus(orderId: $id) { id status version } }"
LISTING = ("query($after: String) { tickets(first: 100, after: $after) "
           "{ edges { node { id } } pageInfo { hasNextPage endCursor } } }")  # fmt: skip


def email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


async def new_user(stack: Stack, clients: list[Client], name: str, *, use_cookie: bool = False) -> Client:
    client = Client(gateway_url(stack), use_cookie=use_cookie)
    clients.append(client)
    await client.sign_up(email(name))
    return client


async def list_ticket(seller: Client, title: str = "Concert", price: int = 2500) -> str:
    data = await seller.execute(CREATE_TICKET, {"t": title, "p": price})
    assert data["createTicket"]["status"] == "AVAILABLE"
    return str(data["createTicket"]["id"])


async def order_when_listed(buyer: Client, ticket_id: str) -> dict[str, Any]:
    """The orders service learns of a new ticket through an event; a client may need a moment's retry."""

    async def attempt() -> dict[str, Any]:
        try:
            return (await buyer.execute(CREATE_ORDER, {"id": ticket_id}))["createOrder"]
        except GraphQLError as error:
            if error.code == "NOT_FOUND":
                raise AssertionError("ticket not yet known to orders") from error
            raise

    return await eventually(attempt)


async def ticket_status(client: Client, ticket_id: str) -> str:
    return str((await client.execute(TICKET, {"id": ticket_id}))["ticket"]["status"])


async def expect_status(client: Client, ticket_id: str, status: str) -> None:
    async def check() -> None:
        assert await ticket_status(client, ticket_id) == status

    await eventually(check)
