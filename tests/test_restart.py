"""Stopping the whole stack and starting it again on the same data (what `make dev` does) keeps everything."""

from __future__ import annotations

import uuid

import pytest

from tests.client import Client
from tests.helpers import CREATE_TICKET, MY_ORDERS, gateway_url, order_when_listed, start_stack

pytestmark = pytest.mark.e2e


async def test_users_tickets_and_orders_survive_a_full_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("restart")
    email = f"keeper-{uuid.uuid4().hex[:8]}@example.com"
    first = start_stack(data_dir, order_window=600)
    try:
        await first.wait_healthy(timeout=90)
        seller, buyer = Client(gateway_url(first)), Client(gateway_url(first))
        await seller.sign_up(f"seller-{email}")
        await buyer.sign_up(email)
        ticket_id = (await seller.execute(CREATE_TICKET, {"t": "Kept", "p": 900}))["createTicket"]["id"]
        order = await order_when_listed(buyer, ticket_id)
        await seller.close()
        await buyer.close()
    finally:
        first.stop()

    second = start_stack(data_dir, order_window=600)  # same data, new ports, new processes
    try:
        await second.wait_healthy(timeout=90)
        buyer = Client(gateway_url(second))
        data = await buyer.execute(
            "mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token } }",
            {"e": email, "p": "correct horse battery"},
        )
        buyer.token = data["signIn"]["token"]
        mine = (await buyer.execute(MY_ORDERS))["myOrders"]
        assert [(o["id"], o["status"], o["ticket"]["title"]) for o in mine] == [(order["id"], "CREATED", "Kept")]
        await buyer.close()
    finally:
        second.stop()
