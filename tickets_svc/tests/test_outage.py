"""A MongoDB outage longer than the old dead-letter budget (8 deliveries, ~25 s of backoff) loses no order event:
the ticket of an order cancelled during the outage is released once the database is back."""

from __future__ import annotations

import asyncio

import grpc

from common import events
from common.bus import EventBus, RetryPolicy
from common.ids import new_id
from common.testing.plugin import JwtKeys
from common.testing.servers import Restartable, RunningServer
from tickets_svc.app import TicketsApp
from tickets_svc.settings import TicketsSettings
from tickets_svc.tests.helpers import (
    AVAILABLE,
    RESERVED,
    User,
    cancelled,
    consumed,
    created,
    get,
    new_ticket,
    publish,
    state,
)
from ticketstore.tickets.v1 import tickets_pb2_grpc

OUTAGE_SECONDS = 30.0  # longer than the old budget of 8 deliveries (~25 s of backoff)


async def test_a_mongodb_outage_longer_than_the_old_retry_budget_loses_no_order_cancelled(
    own_mongo: Restartable, nats_server: RunningServer, jwt_keys: JwtKeys, bus: EventBus, seller: User
) -> None:
    settings = TicketsSettings(
        environment="test",
        grpc_port=0,
        mongo_url=own_mongo.url,
        mongo_db="tickets",
        mongo_timeout_seconds=1.0,  # fail fast while the server is away, so each delivery is one short attempt
        nats_url=nats_server.url_as("tickets_svc"),
        jwt_public_key_file=jwt_keys.public_key_file,
        grace_seconds=1,
    )
    app = TicketsApp(settings, retry=RetryPolicy())  # the production retry policy
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.target) as channel:
            tickets = tickets_pb2_grpc.TicketsServiceStub(channel)
            ticket_id = await new_ticket(tickets, seller)
            order_id = new_id()
            await consumed(bus, await publish(bus, events.ORDER_CREATED, created(order_id, ticket_id)))
            assert (await get(tickets, ticket_id)).status == RESERVED

            own_mongo.stop()  # stopped for real; restarted below on the same port and data
            seq = await publish(bus, events.ORDER_CANCELLED, cancelled(order_id, ticket_id))
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for an effect
            info = await bus.js.consumer_info("ORDERS", "tickets_svc")
            assert info.num_redelivered > 0  # the handler really failed meanwhile
            own_mongo.restart()

            await consumed(bus, seq)
            assert await state(tickets, ticket_id) == (AVAILABLE, "", 2)
            dead = await bus.js.stream_info(events.DEAD_LETTERS.name)
            assert dead.state.messages == 0
    finally:
        await app.stop()
