"""The event bus against a real nats-server -js."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from common import events
from common.bus import Delivery, EventBus, Handlers, Outcome, RetryPolicy, lane_of, msg_id_entity
from common.errors import PermanentFailure
from common.testing import servers
from ticketstore.events.v1 import expiration_pb2, tickets_pb2


def expired(order_id: str) -> expiration_pb2.ExpirationComplete:
    return expiration_pb2.ExpirationComplete(order_id=order_id)


async def test_two_publishes_with_one_id_give_one_message(bus: EventBus) -> None:
    msg_id = events.msg_id(events.EXPIRATION_COMPLETE, "o1")
    await bus.publish(events.EXPIRATION_COMPLETE, expired("o1"), msg_id)
    await bus.publish(events.EXPIRATION_COMPLETE, expired("o1"), msg_id)
    await bus.publish(events.EXPIRATION_COMPLETE, expired("o2"), events.msg_id(events.EXPIRATION_COMPLETE, "o2"))
    info = await bus.js.stream_info("EXPIRATION")
    assert info.state.messages == 2


async def test_consumer_gets_messages_in_order_and_skips_unhandled_subjects(bus: EventBus) -> None:
    seen: list[str] = []
    done = asyncio.Event()

    async def on_created(message: tickets_pb2.TicketCreated, delivery: Delivery) -> Outcome:
        seen.append(message.ticket_id)
        if len(seen) == 3:
            done.set()
        return Outcome.APPLIED

    for i in range(3):
        await bus.publish(events.TICKET_CREATED, tickets_pb2.TicketCreated(ticket_id=f"t{i}"), f"c{i}")
        await bus.publish(events.TICKET_UPDATED, tickets_pb2.TicketUpdated(ticket_id=f"t{i}"), f"u{i}")
    consumer = await bus.consume("svc", "ticket.>", {events.TICKET_CREATED: on_created})
    await asyncio.wait_for(done.wait(), 10)
    for _ in range(100):  # the unhandled ticket.updated messages are acknowledged too
        info = await bus.js.consumer_info("TICKETS", "svc")
        if info.num_ack_pending == 0 and info.num_pending == 0:
            break
        await asyncio.sleep(0.02)
    await consumer.stop()
    assert seen == ["t0", "t1", "t2"]
    assert (info.num_ack_pending, info.num_pending, info.delivered.consumer_seq) == (0, 0, 6)


async def test_early_message_is_nakd_and_comes_back(bus: EventBus) -> None:
    attempts: list[int] = []
    done = asyncio.Event()

    async def handler(message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            return Outcome.EARLY
        done.set()
        return Outcome.APPLIED

    await bus.publish(events.EXPIRATION_COMPLETE, expired("o1"), "e1")
    retry = RetryPolicy(first_delay=0.05)
    consumer = await bus.consume("svc", "expiration.>", {events.EXPIRATION_COMPLETE: handler}, retry)
    await asyncio.wait_for(done.wait(), 10)
    await consumer.stop()
    assert attempts == [1, 2, 3]


async def test_a_permanent_failure_lands_in_dead_letters_at_once(bus: EventBus) -> None:
    attempts: list[int] = []

    async def handler(message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        attempts.append(delivery.attempt)
        raise PermanentFailure("order id fails validation")

    await bus.publish(events.EXPIRATION_COMPLETE, expired("poison"), "p1")
    retry = RetryPolicy(first_delay=0.05)
    consumer = await bus.consume("svc", "expiration.>", {events.EXPIRATION_COMPLETE: handler}, retry)
    dead = await bus.js.pull_subscribe("deadletter.>", durable="inspect", stream="DEADLETTERS")
    messages = await dead.fetch(1, timeout=10)
    assert messages[0].subject == "deadletter.svc.expiration.complete"
    assert messages[0].headers is not None
    assert "PermanentFailure: order id fails validation" in messages[0].headers["Ts-Error"]
    assert events.decode("expiration.complete", messages[0].data) == expired("poison")
    await asyncio.sleep(0.3)  # terminated: no further delivery
    await consumer.stop()
    assert attempts == [1]
    assert consumer.stats.dead_lettered == 1


async def test_an_undecodable_payload_lands_in_dead_letters(bus: EventBus) -> None:
    calls: list[str] = []

    async def handler(message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        calls.append(message.order_id)
        return Outcome.APPLIED

    await bus.publish_raw(events.EXPIRATION_COMPLETE, b"\xff\xff not protobuf", "junk")
    consumer = await bus.consume("svc", "expiration.>", {events.EXPIRATION_COMPLETE: handler})
    dead = await bus.js.pull_subscribe("deadletter.>", durable="inspect", stream="DEADLETTERS")
    messages = await dead.fetch(1, timeout=10)
    await consumer.stop()
    assert messages[0].headers is not None
    assert "undecodable payload" in messages[0].headers["Ts-Error"]
    assert calls == []


async def test_a_failing_handler_is_retried_without_limit_and_never_dead_lettered(bus: EventBus) -> None:
    """Any exception but PermanentFailure is an outage: retried far beyond the old 8-attempt budget."""
    attempts: list[int] = []
    healed = asyncio.Event()

    async def handler(message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        attempts.append(delivery.attempt)
        if delivery.attempt < 20:
            raise ConnectionError("database down")
        healed.set()
        return Outcome.APPLIED

    await bus.publish(events.EXPIRATION_COMPLETE, expired("o1"), "o1")
    retry = RetryPolicy(first_delay=0.01, max_delay=0.05)
    consumer = await bus.consume("svc", "expiration.>", {events.EXPIRATION_COMPLETE: handler}, retry)
    await asyncio.wait_for(healed.wait(), 20)
    await consumer.stop()
    assert attempts == list(range(1, 21))
    assert consumer.stats.retried == 19
    info = await bus.js.stream_info("DEADLETTERS")
    assert info.state.messages == 0


async def test_a_handler_slower_than_ack_wait_is_not_redelivered_meanwhile(bus: EventBus) -> None:
    calls: list[int] = []

    async def handler(message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        calls.append(delivery.attempt)
        await asyncio.sleep(3.5)  # more than three times the ack wait
        return Outcome.APPLIED

    await bus.publish(events.EXPIRATION_COMPLETE, expired("o1"), "o1")
    retry = RetryPolicy(ack_wait=1.0)
    # Two replicas of the service: a redelivery would go to the idle one, concurrently.
    consumers = [
        await bus.consume("svc", "expiration.>", {events.EXPIRATION_COMPLETE: handler}, retry) for _ in range(2)
    ]
    for _ in range(300):
        info = await bus.js.consumer_info("EXPIRATION", "svc")
        if info.num_ack_pending == 0 and info.num_pending == 0 and calls:
            break
        await asyncio.sleep(0.05)
    for consumer in consumers:
        await consumer.stop()
    assert calls == [1]
    assert info.num_redelivered == 0


async def test_dead_letter_can_be_listed_and_replayed(bus: EventBus) -> None:
    from common.deadletters import list_letters, replay

    calls: list[str] = []
    healed = asyncio.Event()

    async def handler(message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        calls.append(message.order_id)
        if len(calls) == 1:
            raise PermanentFailure("a bug, fixed before the replay")
        healed.set()
        return Outcome.APPLIED

    await bus.publish(events.EXPIRATION_COMPLETE, expired("o7"), "x7")
    retry = RetryPolicy(first_delay=0.05)
    consumer = await bus.consume("svc", "expiration.>", {events.EXPIRATION_COMPLETE: handler}, retry)
    letters: list[tuple[int, str, str, str]] = []
    for _ in range(100):
        letters = await list_letters(bus, 10)
        if letters:
            break
        await asyncio.sleep(0.05)
    assert [(c, s) for _, c, s, _ in letters] == [("svc", "expiration.complete")]
    assert "a bug" in letters[0][3]
    assert await replay(bus, letters[0][0]) == "expiration.complete"
    await asyncio.wait_for(healed.wait(), 10)
    await consumer.stop()
    assert calls == ["o7", "o7"]
    assert await list_letters(bus, 10) == []


async def test_services_connecting_at_the_same_moment_to_a_new_server_all_start(
    nats_server: servers.RunningServer,
) -> None:
    """On a first start every service creates the streams at once; none may fail because another won."""
    for _ in range(20):
        buses = await asyncio.gather(
            *[EventBus.connect(nats_server.admin_url, f"service-{i}") for i in range(8)], return_exceptions=True
        )
        assert [type(bus).__name__ for bus in buses] == ["EventBus"] * 8
        names = [stream.name for stream in (*events.STREAMS, events.DEAD_LETTERS)]
        first = buses[0]
        assert isinstance(first, EventBus)
        assert sorted([info.config.name or "" for info in await first.js.streams_info()]) == sorted(names)
        for name in names:  # a new server again for the next round
            await first.js.delete_stream(name)
        for bus in buses:
            assert isinstance(bus, EventBus)
            await bus.close()


# --- lanes: concurrency across entities, order within one ---


def test_an_entity_always_has_the_same_lane_and_entities_spread_over_all_lanes() -> None:
    keys = [f"{n:024x}" for n in range(400)]
    for lanes in (1, 3, 8):
        placed = [lane_of(key, lanes) for key in keys]
        assert placed == [lane_of(key, lanes) for key in keys]  # a pure function of the key
        assert set(placed) == set(range(lanes))
    assert lane_of("6650f0c2a1b2c3d4e5f60718", 8) == zlib.crc32(b"6650f0c2a1b2c3d4e5f60718") % 8  # any process
    with pytest.raises(ValueError, match="at least one lane"):
        lane_of("t1", 0)


def test_the_entity_of_a_message_is_the_one_its_dedup_id_names() -> None:
    assert msg_id_entity(events.msg_id(events.TICKET_UPDATED, "t7", 3)) == "t7"
    assert msg_id_entity(events.msg_id(events.EXPIRATION_COMPLETE, "o2")) == "o2"
    assert msg_id_entity("hand-made") == "hand-made"


ENTITIES, VERSIONS = 6, 25


async def test_events_of_many_entities_are_handled_concurrently_and_each_entity_in_order(bus: EventBus) -> None:
    """The handler holds each event a moment (longer for some), so with lanes events of other entities overlap;
    within an entity the versions must still come one after the other, as published."""
    applied: dict[str, list[int]] = {f"t{e}": [] for e in range(ENTITIES)}
    in_flight: set[str] = set()
    most_in_flight = 0
    done = asyncio.Event()

    async def handler(message: tickets_pb2.TicketUpdated, delivery: Delivery) -> Outcome:
        nonlocal most_in_flight
        assert message.ticket_id not in in_flight, "two events of one entity handled at once"
        in_flight.add(message.ticket_id)
        most_in_flight = max(most_in_flight, len(in_flight))
        await asyncio.sleep(0.001 * ((message.version * 7 + int(message.ticket_id[1:])) % 4))
        applied[message.ticket_id].append(message.version)
        in_flight.discard(message.ticket_id)
        if sum(map(len, applied.values())) == ENTITIES * VERSIONS:
            done.set()
        return Outcome.APPLIED

    for version in range(VERSIONS):  # interleaved: t0 v0, t1 v0, ..., t0 v1, ...
        for e in range(ENTITIES):
            update = tickets_pb2.TicketUpdated(ticket_id=f"t{e}", version=version)
            await bus.publish(events.TICKET_UPDATED, update, events.msg_id(events.TICKET_UPDATED, f"t{e}", version))
    consumer = await bus.consume("svc", "ticket.>", {events.TICKET_UPDATED: handler}, lanes=4)
    await asyncio.wait_for(done.wait(), 30)
    await consumer.stop()
    assert applied == {f"t{e}": list(range(VERSIONS)) for e in range(ENTITIES)}
    assert most_in_flight > 1  # really concurrent


async def test_a_handler_can_name_the_entity_that_orders_its_events(bus: EventBus) -> None:
    """Keyed by ticket: the events of two orders of one ticket stay in order although their ids differ."""
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(message: tickets_pb2.TicketUpdated, delivery: Delivery) -> Outcome:
        await asyncio.sleep(0.002 if message.order_id == "first" else 0)
        seen.append(message.order_id)
        if len(seen) == 2:
            done.set()
        return Outcome.APPLIED

    for order_id in ("first", "second"):  # two dedup ids of two entities, one ticket
        update = tickets_pb2.TicketUpdated(ticket_id="t1", order_id=order_id)
        await bus.publish(events.TICKET_UPDATED, update, events.msg_id(events.TICKET_UPDATED, order_id, 0))
    for lanes in range(2, 64):  # a lane count where the two dedup ids land in different lanes
        if lane_of("first", lanes) != lane_of("second", lanes):
            break
    handlers = Handlers().on(events.TICKET_UPDATED, handler, key=lambda message: message.ticket_id)
    consumer = await bus.consume("svc", "ticket.>", handlers, lanes=lanes)
    await asyncio.wait_for(done.wait(), 10)
    await consumer.stop()
    assert seen == ["first", "second"]
