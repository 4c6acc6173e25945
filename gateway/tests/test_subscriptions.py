"""Live status over graphql-transport-ws, through a real websocket against the real services and NATS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nats
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from common import events
from common.testing.poll import eventually
from common.testing.servers import RunningServer
from gateway.tests.helpers import (
    CANCEL_ORDER,
    ORDER_FIELDS,
    PAY_ORDER,
    WS_PROTOCOL,
    GraphQLClient,
    Stack,
    WsClient,
)
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api

TICKET_STATUS = "subscription($id: ID!) { ticketStatus(ticketId: $id) { ticketId status version orderId } }"
ORDER_STATUS = f"subscription($id: ID!) {{ orderStatus(orderId: $id) {{ {ORDER_FIELDS} }} }}"


async def next_status(ws: WsClient, op_id: str) -> dict[str, Any]:
    status: dict[str, Any] = (await ws.next_data(op_id))["ticketStatus"]
    return status


async def test_a_watcher_sees_reserved_available_reserved_then_sold(
    stack: Stack, clients: Callable[[], GraphQLClient], ws_connect: Any
) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket("Opera", 4_200)

    async with ws_connect() as ws:  # an anonymous watcher
        await ws.init()
        op = await ws.subscribe(TICKET_STATUS, {"id": ticket["id"]})
        first = await next_status(ws, op)
        assert first == {"ticketId": ticket["id"], "status": "AVAILABLE", "version": 0, "orderId": None}

        order = await buyer.create_order(ticket["id"])
        reserved = await next_status(ws, op)
        assert (reserved["status"], reserved["orderId"]) == ("RESERVED", order["id"])

        cancelled = await buyer.data(CANCEL_ORDER, {"id": order["id"]})
        assert cancelled["cancelOrder"]["status"] == "CANCELLED"
        available = await next_status(ws, op)
        assert (available["status"], available["orderId"]) == ("AVAILABLE", None)

        second = await buyer.create_order(ticket["id"])
        again = await next_status(ws, op)
        assert (again["status"], again["orderId"]) == ("RESERVED", second["id"])

        paid = await buyer.data(PAY_ORDER, {"orderId": second["id"], "pm": "pm_card_visa"})
        assert paid["payOrder"]["amountCents"] == 4_200
        sold = await next_status(ws, op)
        assert (sold["status"], sold["orderId"]) == ("SOLD", second["id"])

        versions = [s["version"] for s in (first, reserved, available, again, sold)]
        assert versions == sorted(set(versions)), versions  # never backwards, never repeated


async def test_the_buyer_follows_an_order_until_it_is_complete(
    clients: Callable[[], GraphQLClient], ws_connect: Any
) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket("Ballet", 3_000)
    order = await buyer.create_order(ticket["id"])

    async with ws_connect() as ws:
        await ws.init({"Authorization": f"Bearer {buyer.token}"})
        op = await ws.subscribe(ORDER_STATUS, {"id": order["id"]})
        current = (await ws.next_data(op))["orderStatus"]
        assert (current["id"], current["status"], current["priceCents"]) == (order["id"], "CREATED", 3_000)
        assert current["ticket"]["id"] == ticket["id"]

        await buyer.data(PAY_ORDER, {"orderId": order["id"], "pm": "pm_card_visa"})
        complete = (await ws.next_data(op))["orderStatus"]
        assert complete["status"] == "COMPLETE"
        assert complete["version"] > current["version"]
        assert complete["ticket"]["id"] == ticket["id"]


async def error_of(ws: WsClient, op_id: str) -> dict[str, Any]:
    """The one GraphQL error that ends `op_id` (as a `next` with errors, or an `error` message)."""
    message = await ws.receive()
    assert message.get("id") == op_id, message
    errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors")
    assert errors and len(errors) == 1, message
    if message["type"] == "next":
        assert await ws.receive() == {"id": op_id, "type": "complete"}
    error: dict[str, Any] = errors[0]
    return error


async def test_order_status_is_for_the_buyer_only(clients: Callable[[], GraphQLClient], ws_connect: Any) -> None:
    seller, buyer, stranger = clients(), clients(), clients()
    for client in (seller, buyer, stranger):
        await client.sign_up()
    ticket = await seller.create_ticket()
    order = await buyer.create_order(ticket["id"])

    async with ws_connect() as ws:
        await ws.init({"authorization": f"Bearer {stranger.token}"})  # the key in any case
        op = await ws.subscribe(ORDER_STATUS, {"id": order["id"]})
        assert (await error_of(ws, op))["extensions"]["code"] == "FORBIDDEN"
    async with ws_connect() as ws:
        await ws.init()
        op = await ws.subscribe(ORDER_STATUS, {"id": order["id"]})
        assert (await error_of(ws, op))["extensions"]["code"] == "UNAUTHENTICATED"
    async with ws_connect() as ws:
        await ws.init({"Authorization": f"Bearer {buyer.token}"})
        op = await ws.subscribe(ORDER_STATUS, {"id": "6b0000000000000000000000"})
        assert (await error_of(ws, op))["extensions"]["code"] == "NOT_FOUND"


async def test_the_session_cookie_authenticates_a_websocket(
    stack: Stack, clients: Callable[[], GraphQLClient], ws_connect: Any
) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket()
    order = await buyer.create_order(ticket["id"])
    cookie = f"{stack.gateway.settings.cookie_name}={buyer.token}"
    async with ws_connect(headers={"Cookie": cookie}) as ws:
        await ws.init()
        op = await ws.subscribe(ORDER_STATUS, {"id": order["id"]})
        assert (await ws.next_data(op))["orderStatus"]["id"] == order["id"]


async def test_bad_subscriptions_get_the_usual_error_codes(ws_connect: Any) -> None:
    async with ws_connect() as ws:
        await ws.init()
        op = await ws.subscribe(TICKET_STATUS, {"id": "6b0000000000000000000000"})
        assert (await error_of(ws, op))["extensions"]["code"] == "NOT_FOUND"
        op = await ws.subscribe(TICKET_STATUS, {"id": "  "})
        error = await error_of(ws, op)
        fields = [{"field": "ticketId", "message": "must not be empty"}]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "fields": fields}


async def test_many_watchers_share_one_execution_and_leave_cleanly(
    stack: Stack, clients: Callable[[], GraphQLClient], ws_connect: Any
) -> None:
    seller, buyer = clients(), clients()
    await seller.sign_up()
    await buyer.sign_up()
    ticket = await seller.create_ticket()
    hub, shared = stack.gateway.hub, stack.gateway.view.shared
    before, groups_before = hub.subscriber_count, shared.group_count
    async with ws_connect() as one, ws_connect() as two:
        await one.init()
        await two.init({"Authorization": f"Bearer {buyer.token}"})  # signed in or not: a ticket's status is public
        ops = [await one.subscribe(TICKET_STATUS, {"id": ticket["id"]}) for _ in range(2)]
        ops.append(await two.subscribe(TICKET_STATUS, {"id": ticket["id"]}))
        for ws, op in ((one, ops[0]), (one, ops[1]), (two, ops[2])):
            assert (await ws.next_data(op))["ticketStatus"]["status"] == "AVAILABLE"  # each under its own id
        # One group: one hub subscriber and one execution for the three; two NATS subscriptions for the process.
        assert (hub.subscriber_count, shared.group_count) == (before + 1, groups_before + 1)
        assert hub.nats_subscription_count == 2

        await one.send({"id": ops[0], "type": "complete"})

        async def one_left() -> bool:
            return shared.member_count == 2

        await eventually(one_left, "the completed subscription to leave its group")
        order = await buyer.create_order(ticket["id"])
        for ws, op in ((one, ops[1]), (two, ops[2])):
            reserved = await ws.next_data(op)
            assert (reserved["ticketStatus"]["status"], reserved["ticketStatus"]["orderId"]) == (
                "RESERVED",
                order["id"],
            )

    async def all_left() -> bool:
        return hub.subscriber_count == before and shared.group_count == groups_before

    await eventually(all_left, "closed websockets to unregister")


async def test_order_status_is_never_shared_between_callers(
    clients: Callable[[], GraphQLClient], ws_connect: Any
) -> None:
    """orderStatus runs per subscriber: a stranger or an anonymous caller watching the same order as the buyer, with
    the same document and variables, is refused; the buyer's two connections both follow it."""
    seller, buyer, stranger = clients(), clients(), clients()
    for client in (seller, buyer, stranger):
        await client.sign_up()
    ticket = await seller.create_ticket()
    order = await buyer.create_order(ticket["id"])
    async with ws_connect() as owner, ws_connect() as other, ws_connect() as anonymous, ws_connect() as tab:
        await owner.init({"Authorization": f"Bearer {buyer.token}"})
        mine = await owner.subscribe(ORDER_STATUS, {"id": order["id"]})
        assert (await owner.next_data(mine))["orderStatus"]["status"] == "CREATED"

        await other.init({"Authorization": f"Bearer {stranger.token}"})
        theirs = await other.subscribe(ORDER_STATUS, {"id": order["id"]})  # same document and variables
        assert (await error_of(other, theirs))["extensions"]["code"] == "FORBIDDEN"
        await anonymous.init()
        nobody = await anonymous.subscribe(ORDER_STATUS, {"id": order["id"]})
        assert (await error_of(anonymous, nobody))["extensions"]["code"] == "UNAUTHENTICATED"

        await tab.init({"Authorization": f"Bearer {buyer.token}"})  # the buyer again, on another connection
        again = await tab.subscribe(ORDER_STATUS, {"id": order["id"]})
        assert (await tab.next_data(again))["orderStatus"]["status"] == "CREATED"
        await buyer.data(CANCEL_ORDER, {"id": order["id"]})
        for ws, op in ((owner, mine), (tab, again)):
            assert (await ws.next_data(op))["orderStatus"]["status"] == "CANCELLED"


async def test_only_graphql_transport_ws_is_spoken(ws_connect: Any) -> None:
    async with ws_connect(subprotocols=["graphql-ws"]) as ws:
        try:
            await ws.receive(timeout=5)
            raise AssertionError("the legacy protocol must not be served")
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4406


async def test_a_subscription_before_connection_init_is_refused(ws_connect: Any) -> None:
    async with ws_connect() as ws:
        await ws.subscribe(TICKET_STATUS, {"id": "6b0000000000000000000000"})
        try:
            await ws.receive(timeout=5)
            raise AssertionError("expected the socket to close")
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4401


async def test_pages_of_other_origins_cannot_open_a_websocket(
    stack: Stack, ws_connect: Any, start_gateway: Any
) -> None:
    """A browser sends the user's cookie with any websocket handshake: only our own origin (and those configured)
    may connect, or another site could act as the user (cross-site websocket hijacking)."""
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(headers={"Origin": "https://evil.example"}):
            pass
    assert refused.value.response.status_code == 403

    trusting = await start_gateway(ws_allowed_origins=["https://shop.example"])
    async with ws_connect(trusting, headers={"Origin": "https://shop.example"}) as ws:
        await ws.init()
    async with ws_connect(headers={"Origin": stack.gateway.url}) as ws:  # the gateway's own pages (GraphiQL)
        await ws.init()


WIDE_STATUS = (  # about 1 KiB per `next` frame: a socket's buffers fill after fewer events
    "subscription($id: ID!) { ticketStatus(ticketId: $id) { "
    + " ".join(f"a{i}: ticketId b{i}: orderId" for i in range(12))
    + " version } }"
)


async def test_a_slow_websocket_is_dropped_alone_and_every_watcher_keeps_its_order(
    clients: Callable[[], GraphQLClient], ws_connect: Any, start_gateway: Any, nats_server: RunningServer
) -> None:
    """Through real sockets: a watcher that stops reading (its client takes in one message, then reads no more from
    its socket until asked) and one that reads, in ONE shared group. The gateway writes frames straight to the
    sockets until the slow one's is full, then queues for it (bounded) and drops it alone: `complete` after an
    unbroken prefix of the versions; the other (permessage-deflate negotiated, so the frames written directly go
    uncompressed among its compressed ones) sees every version in order, before and after the drop."""
    seller = clients()
    await seller.sign_up()
    ticket = await seller.create_ticket()
    gateway = await start_gateway(nats_url=nats_server.url_as("gateway"))  # its events: ours alone
    shared = gateway.view.shared
    publisher = await nats.connect(nats_server.admin_url)  # publishes as tickets_svc would
    url = gateway.url.replace("http://", "ws://") + "/graphql"
    try:
        async with (
            ws_connect(gateway) as fast,
            connect(
                url, subprotocols=[Subprotocol(WS_PROTOCOL)], max_queue=1, ping_interval=None, compression=None
            ) as slow_socket,
        ):  # fmt: skip
            slow = WsClient(slow_socket)
            for ws in (fast, slow):
                await ws.init()
            fast_op = await fast.subscribe(WIDE_STATUS, {"id": ticket["id"]})
            assert (await fast.next_data(fast_op))["ticketStatus"]["version"] == 0
            slow_op = await slow.subscribe(WIDE_STATUS, {"id": ticket["id"]})
            assert (await slow.next_data(slow_op))["ticketStatus"]["version"] == 0
            assert (shared.group_count, shared.member_count) == (1, 2)

            seen: list[int] = []
            version = 0
            while shared.dropped == 0:  # the slow socket takes nothing more in: bounded by its buffers
                assert version < 50_000, "the slow watcher was never dropped"
                for _ in range(50):
                    version += 1
                    await publisher.publish(events.TICKET_UPDATED, ticket_updated(ticket["id"], version))
                while not seen or seen[-1] < version:
                    seen.append((await fast.next_data(fast_op))["ticketStatus"]["version"])
            assert shared.member_count == 1
            version += 1
            await publisher.publish(events.TICKET_UPDATED, ticket_updated(ticket["id"], version))
            seen.append((await fast.next_data(fast_op))["ticketStatus"]["version"])
            assert seen == list(range(1, version + 1))  # every version, in order, before and after the drop

            got = []
            while (message := await slow.receive())["type"] == "next":  # reading again: what was sent
                assert message["id"] == slow_op
                got.append(message["payload"]["data"]["ticketStatus"]["version"])
            assert message == {"id": slow_op, "type": "complete"}  # dropped: the stream ends for it alone
            assert got == list(range(1, len(got) + 1)) and len(got) < version  # an unbroken prefix
    finally:
        await publisher.close()


def ticket_updated(ticket_id: str, version: int) -> bytes:
    return ticket_events.TicketUpdated(
        ticket_id=ticket_id, title="t", price_cents=100, seller_id="s", status=tickets_api.TICKET_STATUS_AVAILABLE,
        version=version,
    ).SerializeToString()  # fmt: skip
