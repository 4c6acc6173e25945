"""The transactional outbox against real Mongo-compatible storage and real JetStream."""

from __future__ import annotations

import asyncio

import pytest
from nats.errors import ConnectionClosedError

from common import events
from common.bus import EventBus
from common.mongo import Database, connect, in_transaction
from common.outbox import DocumentOutbox, Outbox
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


# --- DocumentOutbox: the pending events inside the entity's document ---


async def test_document_outbox_entity_and_event_are_one_write_and_a_crash_leftover_is_swept_once(
    bus: EventBus, mongo_server: RunningServer, mongo_db: str
) -> None:
    client = connect(mongo_server.url, "test")
    tickets = Database(client, mongo_db).collection("tickets")
    outbox = DocumentOutbox(tickets, lambda: bus, "test", sweep_seconds=0.2)
    await outbox.ensure_indexes()
    created = tickets_pb2.TicketCreated(ticket_id="t1", title="Gig", price_cents=500)
    event, key = outbox.stage(events.TICKET_CREATED, created, "t1", 0)
    await tickets.insert_one(outbox.inserted({"_id": "t1", "version": 0}, event, key))
    updated = tickets_pb2.TicketUpdated(ticket_id="t1", title="Gig", price_cents=600, version=1)
    event, key = outbox.stage(events.TICKET_UPDATED, updated, "t1", 1)
    result = await tickets.update_one({"_id": "t1", "version": 0}, outbox.updated({"$set": {"version": 1}}, event, key))
    assert result.matched_count == 1
    # The "crash": neither write was handed to a relay. Nothing is on the stream yet.
    assert (await bus.js.stream_info("TICKETS")).state.messages == 0

    # A new process starts its relay; a second relay sweeps at the same time.
    other = DocumentOutbox(tickets, lambda: bus, "test", sweep_seconds=0.2)
    outbox.start()
    other.start()
    for _ in range(100):
        if await tickets.count_documents({"outbox_n": {"$gt": 0}}) == 0:
            break
        await asyncio.sleep(0.05)
    await outbox.stop()
    await other.stop()
    document = await tickets.find_one({"_id": "t1"})
    assert document is not None
    assert (document["outbox"], document["outbox_n"], document["version"]) == ({}, 0, 1)  # removed once each
    sub = await bus.js.pull_subscribe("ticket.>", durable="check", stream="TICKETS")
    messages = await sub.fetch(2, timeout=5)
    assert [events.decode(m.subject, m.data) for m in messages] == [created, updated]  # oldest version first
    assert [m.headers["Nats-Msg-Id"] for m in messages if m.headers] == ["ticket.created:t1:0", "ticket.updated:t1:1"]
    assert (await bus.js.stream_info("TICKETS")).state.messages == 2
    await client.close()


async def test_document_outbox_keeps_a_handed_over_event_while_nats_is_away(
    bus: EventBus, nats_server: RunningServer, mongo_server: RunningServer, mongo_db: str
) -> None:
    client = connect(mongo_server.url, "test")
    tickets = Database(client, mongo_db).collection("tickets")
    broken = await EventBus.connect(nats_server.admin_url, "gone")
    await broken.client.close()  # publishes through it fail, as when NATS is away
    outbox = DocumentOutbox(tickets, lambda: broken, "test", sweep_seconds=3600)
    event, key = outbox.stage(events.TICKET_CREATED, tickets_pb2.TicketCreated(ticket_id="t2"), "t2", 0)
    await tickets.insert_one(outbox.inserted({"_id": "t2", "version": 0}, event, key))
    outbox.start()
    outbox.written(event)
    with pytest.raises(ConnectionClosedError):
        await outbox.sweep()
    assert await tickets.count_documents({"outbox_n": 1}) == 1  # not removed: it was never acknowledged
    await outbox.stop()

    relay = DocumentOutbox(tickets, lambda: bus, "test", sweep_seconds=3600)
    relay.start()  # its first sweep publishes it
    for _ in range(100):
        if await tickets.count_documents({"outbox_n": {"$gt": 0}}) == 0:
            break
        await asyncio.sleep(0.05)
    await relay.stop()
    assert (await bus.js.stream_info("TICKETS")).state.messages == 1
    await client.close()
