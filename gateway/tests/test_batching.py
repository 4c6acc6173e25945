"""Per-request DataLoaders: the tickets of 50 orders are read with ONE BatchGetTickets call (counted on the
gateway's own gRPC channels)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.tests.helpers import CREATE_TICKET, GraphQLClient, Stack

BATCH_GET_TICKETS = "/ticketstore.tickets.v1.TicketsService/BatchGetTickets"
GET_TICKET = "/ticketstore.tickets.v1.TicketsService/GetTicket"
LIST_MY_ORDERS = "/ticketstore.orders.v1.OrdersService/ListMyOrders"
MY_ORDERS = "{ myOrders { id status ticket { id title priceCents status } } }"


async def test_fifty_orders_need_one_ticket_batch(stack: Stack, clients: Callable[[], GraphQLClient]) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    semaphore = asyncio.Semaphore(8)

    async def listed(n: int) -> str:
        async with semaphore:
            data = await seller.data(CREATE_TICKET, {"title": f"Seat {n}", "price": 1_000 + n})
            return str(data["createTicket"]["id"])

    async def ordered(ticket_id: str) -> str:
        async with semaphore:
            return str((await buyer.create_order(ticket_id))["id"])

    ticket_ids = await asyncio.gather(*(listed(n) for n in range(50)))
    order_ids = await asyncio.gather(*(ordered(ticket_id) for ticket_id in ticket_ids))

    calls = stack.gateway.backends.calls
    before = calls.copy()
    orders = (await buyer.data(MY_ORDERS))["myOrders"]
    made = {method: calls[method] - before[method] for method in calls if calls[method] != before[method]}

    assert len(orders) == 50
    assert {o["id"] for o in orders} == set(order_ids)
    assert {o["ticket"]["id"] for o in orders} == set(ticket_ids)
    assert all(o["ticket"]["title"] == f"Seat {o['ticket']['priceCents'] - 1_000}" for o in orders)
    assert made == {LIST_MY_ORDERS: 1, BATCH_GET_TICKETS: 1}, made


async def test_the_same_ticket_twice_in_one_request_is_one_lookup(
    stack: Stack, clients: Callable[[], GraphQLClient]
) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket()
    order = await buyer.create_order(ticket["id"])
    calls = stack.gateway.backends.calls
    before = calls[BATCH_GET_TICKETS]
    query = "query($id: ID!) { a: order(id: $id) { ticket { id } } b: order(id: $id) { ticket { title } } }"
    data = await buyer.data(query, {"id": order["id"]})
    assert data["a"]["ticket"]["id"] == ticket["id"] and data["b"]["ticket"]["title"] == ticket["title"]
    assert calls[BATCH_GET_TICKETS] - before == 1
