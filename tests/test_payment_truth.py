"""The payment answer is the truth (SPEC "Payments"), when the window closes while a charge is in flight.

Real stack, a 6 s window, the sweep every 0.5 s without grace; the race is made to happen by freezing (SIGSTOP)
the Stripe emulator or NATS across the window's close. Whatever the answer, the end is checked over the whole
stack: a Payment only for an order that ends COMPLETE, and every charge kept as that Payment or refunded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from common.devstack import Stack
from common.testing.servers import RunningServer
from payments_svc.domain import CANCELLED_REFUNDED, NOT_CONFIRMED
from tests import audit
from tests.client import Client, GraphQLError, eventually
from tests.helpers import ORDER, PAY, list_ticket, new_user, order_when_listed, running_stack

pytestmark = pytest.mark.e2e

WINDOW_SECONDS = 6


@pytest.fixture(scope="module")
def truth_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"SWEEP_INTERVAL_SECONDS": "0.5", "SWEEP_GRACE_SECONDS": "0"}
    with running_stack(tmp_path_factory.mktemp("truth"), WINDOW_SECONDS, env) as running:
        yield running


@pytest_asyncio.fixture
async def stack(truth_stack: Stack) -> Stack:
    await truth_stack.wait_healthy(timeout=90)
    return truth_stack


async def order_status(buyer: Client, order_id: str) -> str:
    return str((await buyer.execute(ORDER, {"id": order_id}))["order"]["status"])


async def known_to_payments(stack: Stack, order_id: str) -> None:
    """Wait until payments_svc's replica has the order, so freezing NATS afterwards does not hide it."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.env["MONGO_URL"])
    try:

        async def check() -> None:
            assert await mongo["payments"]["orders"].find_one({"_id": order_id}) is not None

        await eventually(check)
    finally:
        await mongo.close()


async def pay(buyer: Client, order_id: str) -> dict[str, Any] | GraphQLError:
    try:
        return (await buyer.execute(PAY, {"id": order_id, "pm": "pm_card_visa"}))["payOrder"]
    except GraphQLError as error:
        return error


async def until_status(buyer: Client, order_id: str, status: str) -> None:
    async def check() -> None:
        assert await order_status(buyer, order_id) == status

    await eventually(check, timeout=30)


@pytest.mark.parametrize(
    ("frozen", "thaw_when", "expected"),
    [
        # The charge hangs at Stripe while the window closes: the expiry wins, the charge is refunded.
        ("stripe", "CANCELLED", CANCELLED_REFUNDED),
        # The charge is recorded, but payment.created cannot reach orders_svc before the sweep cancels the order
        # (the reported lie: "paid", then cancelled). The answer must not be a Payment.
        ("nats", "CANCELLED", NOT_CONFIRMED),
        # NATS hangs briefly inside the window: the verdict arrives in time and the payment wins.
        ("nats", "soon", "paid"),
    ],
)
async def test_a_window_that_closes_while_a_charge_is_in_flight_ends_truthfully(
    stack: Stack, frozen: str, thaw_when: str, expected: str
) -> None:
    clients: list[Client] = []
    server: RunningServer = stack.server(frozen)
    try:
        seller = await new_user(stack, clients, "seller")
        buyer = await new_user(stack, clients, "buyer")
        order = await order_when_listed(buyer, await list_ticket(seller))
        await known_to_payments(stack, order["id"])

        server.freeze()
        paying = asyncio.create_task(pay(buyer, order["id"]))
        if thaw_when == "soon":
            await asyncio.sleep(1.5)  # the outage itself, shorter than the verdict wait
        else:
            await until_status(buyer, order["id"], thaw_when)
            if frozen == "nats":
                await asyncio.wait_for(asyncio.shield(paying), 20)  # answered while NATS still hangs
        server.thaw()
        answer = await paying
    finally:
        server.thaw()
        for client in clients:
            await client.close()

    final = await audit.settle(stack, timeout=60)
    assert final.problems == []
    statuses = {o["_id"]: o["status"] for o in final.orders}
    if isinstance(answer, GraphQLError):
        assert answer.code == "CONFLICT"
        assert (str(answer), statuses[order["id"]]) == (expected, "CANCELLED")
    else:
        assert (expected, answer["orderId"], statuses[order["id"]]) == ("paid", order["id"], "COMPLETE")
