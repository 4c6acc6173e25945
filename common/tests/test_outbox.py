"""The transactional outbox against real Mongo-compatible storage and real JetStream."""

from __future__ import annotations

import asyncio

import pytest

from common import events
from common.bus import EventBus
from common.mongo import connect, in_transaction
from common.outbox import Outbox
from common.testing.servers import RunningServer
from ticketstore.events.v1 import tickets_pb2


async def test_event_cut_off_after_commit_is_published_once_by_the_sweep(
    bus: EventBus, mongo_server: RunningServer, mongo_db: str
) -> None:
    client = connect(mongo_server.url, "test")
    outbox = Outbox(client, mongo_db, bus, sweep_seconds=0.2)
    await outbox.ensure_indexes()
    event = tickets_pb2.TicketCreated(ticket_id="t1", title="Gig", price_cents=500)

    async def write(session):  # type: ignore[no-untyped-def]
        await client[mongo_db]["tickets"].insert_one({"_id": "t1", "version": 0}, session=session)
        await outbox.add(session, events.TICKET_CREATED, event, "t1", 0)

    await in_transaction(client, write)
    # The "crash": the process died before notify/publish. Nothing is on the stream yet.
    assert (await bus.js.stream_info("TICKETS")).state.messages == 0

    # A new process starts its relay; a second relay sweeps at the same time.
    other = Outbox(client, mongo_db, bus, sweep_seconds=0.2)
    outbox.start()
    other.start()
    for _ in range(100):
        if await client[mongo_db]["outbox"].count_documents({}) == 0:
            break
        await asyncio.sleep(0.05)
    await outbox.stop()
    await other.stop()
    assert await client[mongo_db]["outbox"].count_documents({}) == 0
    assert (await bus.js.stream_info("TICKETS")).state.messages == 1
    sub = await bus.js.pull_subscribe("ticket.created", durable="check", stream="TICKETS")
    (msg,) = await sub.fetch(1, timeout=5)
    assert events.decode(msg.subject, msg.data) == event
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == "ticket.created:t1:0"
    await client.close()


async def test_aborted_transaction_leaves_no_event(bus: EventBus, mongo_server: RunningServer, mongo_db: str) -> None:
    client = connect(mongo_server.url, "test")
    outbox = Outbox(client, mongo_db, bus)
    await outbox.ensure_indexes()

    async def write(session):  # type: ignore[no-untyped-def]
        await outbox.add(session, events.TICKET_CREATED, tickets_pb2.TicketCreated(ticket_id="t9"), "t9", 0)
        raise ValueError("the entity write failed")

    with pytest.raises(ValueError, match="entity write failed"):
        await in_transaction(client, write)
    assert await client[mongo_db]["outbox"].count_documents({}) == 0
    assert await outbox.flush() == 0
    await client.close()
