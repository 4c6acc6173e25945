"""Shared subscription execution (gateway.shared): one execution and one serialized payload per event for a group,
each subscriber with its own queue, order and slow-client drop."""

from __future__ import annotations

import asyncio
import json

from strawberry.types.execution import ExecutionResult

from gateway.shared import End, Member, Payload, SharedSubscriptions, Stream, share_key

TICKET_STATUS = "subscription($id: ID!) { ticketStatus(ticketId: $id) { status version } }"
ORDER_STATUS = "subscription($id: ID!) { orderStatus(orderId: $id) { status version } }"


class Source:
    """A stream fed by the test; counts how often it was started and whether it was closed."""

    def __init__(self) -> None:
        self.feed: asyncio.Queue[int] = asyncio.Queue()
        self.started = 0
        self.closed = False
        self.encoded = 0

    async def start(self) -> Stream:
        self.started += 1
        return self._results()

    async def _results(self) -> Stream:
        try:
            while True:
                yield ExecutionResult(data={"version": await self.feed.get()}, errors=None)
        finally:
            self.closed = True

    def encode(self, result: ExecutionResult) -> str:
        self.encoded += 1
        return json.dumps({"data": result.data})


async def drain(member: Member, count: int) -> list[int]:
    got = []
    for _ in range(count):
        item = await asyncio.wait_for(member.next(), 5)
        assert isinstance(item, Payload), item
        got.append(json.loads(item.text)["data"]["version"])
        member.sent()
    return got


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_only_public_subscriptions_are_shared() -> None:
    assert share_key(TICKET_STATUS, None, {"id": "t1"}) == share_key(TICKET_STATUS, None, {"id": "t1"})
    assert share_key(TICKET_STATUS, None, {"id": "t1"}) != share_key(TICKET_STATUS, None, {"id": "t2"})
    assert share_key(ORDER_STATUS, None, {"id": "o1"}) is None  # the buyer's own: runs per subscriber
    assert share_key("query { me { id } }", None, {}) is None  # not a subscription: run alone
    assert share_key("subscription {", None, {}) is None  # not parsable: Strawberry reports it


async def test_one_execution_per_event_in_order_for_every_subscriber() -> None:
    shared, source = SharedSubscriptions(queue_size=8), Source()
    key = share_key(TICKET_STATUS, None, {"id": "t1"})
    assert key is not None
    one, two = shared.join(key, source.start, source.encode), shared.join(key, source.start, source.encode)
    for version in range(5):
        source.feed.put_nowait(version)
    assert await drain(one, 5) == [0, 1, 2, 3, 4]
    assert await drain(two, 5) == [0, 1, 2, 3, 4]
    assert (source.started, source.encoded) == (1, 5)

    late = shared.join(key, source.start, source.encode)  # gets the latest payload first, then what follows
    source.feed.put_nowait(5)
    assert await drain(late, 2) == [4, 5]
    assert shared.group_count == 1 and shared.member_count == 3

    for member in (one, two, late):
        shared.leave(member)
    await settle()
    assert source.closed and shared.group_count == 0  # the last one out stops the stream


async def test_a_slow_subscriber_is_dropped_alone_and_the_others_continue() -> None:
    shared, source = SharedSubscriptions(queue_size=3), Source()
    key = share_key(TICKET_STATUS, None, {"id": "t1"})
    assert key is not None
    slow, fast = shared.join(key, source.start, source.encode), shared.join(key, source.start, source.encode)
    received: list[int] = []
    for version in range(10):
        source.feed.put_nowait(version)
        received += await drain(fast, 1)
    assert received == list(range(10))
    assert await slow.next() is End.DROPPED
    assert await slow.next() is End.DROPPED  # it stays dropped
    assert shared.dropped == 1 and shared.member_count == 1
    shared.leave(slow)
    source.feed.put_nowait(10)
    assert await drain(fast, 1) == [10]
    shared.leave(fast)
    await settle()
    assert source.closed


async def test_direct_delivery_never_overtakes_what_waits_in_the_queue() -> None:
    """A member whose socket takes frames gets them written from the group's loop (its task not woken); while its
    socket is full they wait in its queue, and direct writes resume only once the queue is sent."""
    shared, source = SharedSubscriptions(queue_size=8), Source()
    key = share_key(TICKET_STATUS, None, {"id": "t1"})
    assert key is not None
    socket_ready, written = [True], []

    def deliver(payload: Payload) -> bool:
        if socket_ready[0]:
            written.append(json.loads(payload.text)["data"]["version"])
        return socket_ready[0]

    member = shared.join(key, source.start, source.encode, deliver)
    for version in range(3):
        source.feed.put_nowait(version)
    await settle()
    assert written == [0, 1, 2]
    socket_ready[0] = False  # above the high-water mark
    source.feed.put_nowait(3)
    await settle()
    socket_ready[0] = True  # drained, but 3 is still queued: 4 must wait behind it
    source.feed.put_nowait(4)
    await settle()
    assert written == [0, 1, 2]
    assert await drain(member, 2) == [3, 4]  # through the task's (usual) send path, in order
    source.feed.put_nowait(5)
    await settle()
    assert written == [0, 1, 2, 5]  # the queue is empty again: written directly
    shared.leave(member)


async def test_when_the_stream_ends_every_subscriber_completes() -> None:
    shared = SharedSubscriptions(queue_size=4)

    async def start() -> Stream:
        async def results() -> Stream:
            yield ExecutionResult(data={"version": 1}, errors=None)

        return results()

    key = share_key(TICKET_STATUS, None, {"id": "t1"})
    assert key is not None
    members = [shared.join(key, start, lambda r: json.dumps({"data": r.data})) for _ in range(2)]
    for member in members:
        first = await member.next()
        assert isinstance(first, Payload) and json.loads(first.text)["data"] == {"version": 1}
        member.sent()
        assert await asyncio.wait_for(member.next(), 5) is End.COMPLETE
    assert shared.group_count == 0  # a new subscriber starts afresh
