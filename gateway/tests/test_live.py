"""The live hub against a real NATS server: one subscription per subject family, fan-out by entity, a slow
subscriber dropped without holding up the others, and a re-read after NATS comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient

from common import events
from common.testing import servers
from common.testing.poll import eventually
from common.testing.servers import RunningServer
from gateway.live import LiveHub, Signal, SubscriberDropped
from ticketstore.events.v1 import orders_pb2, tickets_pb2
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api


@pytest_asyncio.fixture
async def publisher(nats_server: RunningServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.admin_url)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def hub(nats_server: RunningServer) -> AsyncIterator[LiveHub]:
    live = LiveHub(nats_server.url_as("gateway"), queue_size=2, name="gateway-test")
    await live.start()
    yield live
    await live.stop()


def ticket_updated(ticket_id: str, version: int) -> bytes:
    return tickets_pb2.TicketUpdated(
        ticket_id=ticket_id, status=tickets_api.TICKET_STATUS_RESERVED, order_id="o1", version=version
    ).SerializeToString()


async def test_events_reach_only_the_subscribers_of_their_entity(hub: LiveHub, publisher: NatsClient) -> None:
    async with hub.subscribe(("ticket", "t1")) as watcher, hub.subscribe(("ticket", "t2")) as other:
        async with hub.subscribe(("order", "o1")) as order_watcher:
            await publisher.publish(events.TICKET_UPDATED, ticket_updated("t1", 1))
            cancelled = orders_pb2.OrderCancelled(order_id="o1", ticket_id="t1", version=1)
            await publisher.publish(events.ORDER_CANCELLED, cancelled.SerializeToString())
            await publisher.publish(events.TICKET_UPDATED, b"\xff\xff not protobuf")  # ignored, not fatal
            await publisher.publish(events.TICKET_UPDATED, ticket_updated("t1", 2))

            first = await asyncio.wait_for(watcher.next(), 5)
            second = await asyncio.wait_for(watcher.next(), 5)
            assert [first.version, second.version] == [1, 2]  # type: ignore[union-attr]
            got = await asyncio.wait_for(order_watcher.next(), 5)
            assert isinstance(got, orders_pb2.OrderCancelled) and got.order_id == "o1"
        assert hub.subscriber_count == 2
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.next(), 0.2)
    assert hub.subscriber_count == 0
    assert hub.nats_subscription_count == 2


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_up(hub: LiveHub, publisher: NatsClient) -> None:
    received: list[int] = []
    async with hub.subscribe(("ticket", "t1")) as fast, hub.subscribe(("ticket", "t1")) as slow:
        for version in range(1, 6):
            await publisher.publish(events.TICKET_UPDATED, ticket_updated("t1", version))
            item = await asyncio.wait_for(fast.next(), 5)
            received.append(item.version)  # type: ignore[union-attr]
        assert received == [1, 2, 3, 4, 5]
        assert slow.dropped  # its queue (2) overflowed on the third event
        with pytest.raises(SubscriberDropped):
            await asyncio.wait_for(slow.next(), 5)
        with pytest.raises(SubscriberDropped):
            await asyncio.wait_for(slow.next(), 5)  # and stays dropped
        assert hub.subscriber_count == 1
        assert hub.dropped == 1


async def test_after_nats_comes_back_subscribers_are_told_to_re_read(hub: LiveHub, nats_server: RunningServer) -> None:
    async with hub.subscribe(("ticket", "t1")) as watcher:
        restarted = servers.restart(nats_server)  # same port and data: the hub reconnects by itself
        try:
            assert await asyncio.wait_for(watcher.next(), 15) is Signal.RESYNC

            async def connected() -> bool:
                return hub.connected

            await eventually(connected, "the hub to reconnect")
        finally:
            await hub.stop()
            restarted.stop()


async def test_stopping_the_hub_ends_its_subscribers(nats_server: RunningServer) -> None:
    live = LiveHub(nats_server.url_as("gateway"))
    await live.start()
    async with live.subscribe(("order", "o1")) as watcher:
        await live.stop()
        with pytest.raises(SubscriberDropped):
            await asyncio.wait_for(watcher.next(), 5)
