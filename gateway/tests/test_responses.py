"""Public reads answered again without executing, until a ticket changes (gateway.responses)."""

from __future__ import annotations

from collections.abc import Callable

from strawberry.types import ExecutionResult

from common.testing.poll import eventually
from gateway.responses import ResponseCache
from gateway.tests.helpers import TICKET_FIELDS, GraphQLClient, Stack

GET_TICKET = "/ticketstore.tickets.v1.TicketsService/GetTicket"
TICKET = f"query($id: ID!) {{ ticket(id: $id) {{ {TICKET_FIELDS} }} }}"
UPDATE_TICKET = f"mutation($id: ID!, $title: String!, $price: Int!) {{ updateTicket(id: $id, title: $title, priceCents: $price) {{ {TICKET_FIELDS} }} }}"  # noqa: E501
ME = "query { me { id } }"


def test_only_public_queries_are_kept_and_any_change_drops_them() -> None:
    live = [True]
    cache = ResponseCache(lambda: live[0], size=2)
    key = cache.key(TICKET, None, {"id": "t1"})
    assert key is not None and key == cache.key(TICKET, None, {"id": "t1"})
    assert cache.key(ME, None, {}) is None  # the caller's own: never shared
    assert cache.key("query { ticket(id: 1) { id } me { id } }", None, {}) is None
    assert cache.key(UPDATE_TICKET, None, {}) is None and cache.is_mutation(UPDATE_TICKET, None)
    answer = ExecutionResult(data={"ticket": {"id": "t1"}}, errors=None)

    cache.put(key, cache.generation, answer)
    assert cache.get(key) is answer
    cache.drop("ticket.updated")
    assert cache.get(key) is None

    stale = cache.generation
    cache.drop("ticket.created")  # a change arrived while the answer was computed: not kept
    cache.put(key, stale, answer)
    assert cache.get(key) is None
    live[0] = False  # NATS is down: events may be missed, nothing is kept
    cache.put(key, cache.generation, answer)
    assert cache.get(key) is None
    live[0] = True
    cache.put(key, cache.generation, ExecutionResult(data=None, errors=[]))
    cache.drop("order.created")  # orders change tickets through ticket events only
    cache.put(key, cache.generation, answer)
    assert cache.get(key) is answer


async def test_a_repeated_read_is_not_executed_again_until_the_ticket_changes(
    stack: Stack, clients: Callable[[], GraphQLClient]
) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket("Opera", 4_000)
    calls = stack.gateway.backends.calls
    first = (await buyer.data(TICKET, {"id": ticket["id"]}))["ticket"]

    async def from_the_cache() -> bool:  # once the listing's own ticket.created event has passed
        before = calls[GET_TICKET]
        assert (await buyer.data(TICKET, {"id": ticket["id"]}))["ticket"] == first
        return calls[GET_TICKET] == before

    await eventually(from_the_cache, "a repeated read answered without a call to tickets_svc")

    # The seller's own change is visible at once (a mutation drops the cache), to every reader.
    await seller.data(UPDATE_TICKET, {"id": ticket["id"], "title": "Jazz", "price": 4_100})
    assert (await buyer.data(TICKET, {"id": ticket["id"]}))["ticket"]["title"] == "Jazz"

    # A change made elsewhere (the order's event reaching tickets_svc) drops it through its ticket.updated event.
    await buyer.create_order(ticket["id"])

    async def reserved() -> bool:
        return bool((await buyer.data(TICKET, {"id": ticket["id"]}))["ticket"]["status"] == "RESERVED")

    await eventually(reserved, "the cached AVAILABLE answer to give way to RESERVED")
