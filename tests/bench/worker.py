"""The load generator: a separate process (`python -m tests.bench.worker`) so it never shares an interpreter, an
event loop or a GIL with what it measures.

Protocol: one JSON command per line on stdin (`{"op": name, "args": {...}}`), one JSON answer per line on stdout
(`{"ok": true, "result": {...}}` or `{"ok": false, "error": "..."}`). Each command runs on a fresh uvloop loop.
Every loop here is bounded in count and in time; every address is 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import re
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import grpc
import nats
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from common import events
from common.bus import MSG_ID_HEADER, EventBus
from common.ids import new_id
from common.timestamps import to_timestamp
from expiration_svc.announce import publish_batch
from expiration_svc.app import connect_redis
from expiration_svc.settings import ExpirationSettings
from expiration_svc.store import TimerStore
from gateway.live import LiveHub
from tests.bench.procs import cpu_seconds
from tests.bench.stats import percentile
from tests.helpers import CREATE_ORDER, TICKET_STATUS
from ticketstore.events.v1 import expiration_pb2, orders_pb2
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

log = logging.getLogger("bench.worker")
HOST = "127.0.0.1"
TRACEPARENT = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"  # as our publishes carry (common.tracing)
now = time.perf_counter  # one clock for every latency; CLOCK_MONOTONIC is shared by all processes of the machine


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def latency_summary(latencies: list[float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}p50_ms": ms(percentile(latencies, 50)), f"{prefix}p99_ms": ms(percentile(latencies, 99))}


# --- a minimal HTTP/1.1 keep-alive client: the cheapest way to drive the gateway without starving it ---


def encode_post(port: int, body: dict[str, Any], token: str | None = None) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST /graphql HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {len(payload)}\r\n\r\n")  # fmt: skip
    return head.encode("latin-1") + payload


class HttpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> tuple[int, bytes]:
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


def graphql_ok(status: int, body: bytes) -> bool:
    return status == 200 and b'"errors"' not in body


# --- closed-loop load: `concurrency` callers, each sending its next request when the previous one answered ---


async def closed_loop(
    call: Callable[[int, int], Awaitable[bool]], concurrency: int, warmup: float, duration: float, max_requests: int
) -> dict[str, Any]:
    """Runs warm-up then a measured window; `call(worker, i)` returns whether the answer was right."""
    start = now()
    measure_from, end = start + warmup, start + warmup + duration
    latencies: list[float] = []
    errors = 0
    sent = 0

    async def caller(worker: int) -> None:
        nonlocal errors, sent
        i = worker
        while sent < max_requests:
            t0 = now()
            if t0 >= end:
                return
            sent += 1
            ok = await call(worker, i)
            t1 = now()
            if t0 >= measure_from and t1 <= end:
                if ok:
                    latencies.append(t1 - t0)
                else:
                    errors += 1
            i += concurrency

    await asyncio.wait_for(asyncio.gather(*(caller(w) for w in range(concurrency))), warmup + duration + 30)
    window = min(duration, now() - measure_from)
    return {"requests": len(latencies), "errors": errors, "rps": round(len(latencies) / window, 1),
            **latency_summary(latencies)}  # fmt: skip


async def http_load(
    port: int, bodies: list[dict[str, Any]], concurrency: int, warmup: float, duration: float, max_requests: int
) -> dict[str, Any]:
    requests = [encode_post(port, body) for body in bodies]
    connections = [await HttpConnection.open(port) for _ in range(concurrency)]
    sample: list[bytes] = []

    async def call(worker: int, i: int) -> bool:
        status, body = await connections[worker].post(requests[i % len(requests)])
        ok = graphql_ok(status, body)
        if not ok and not sample:
            sample.append(body[:300])
        return ok

    try:
        result = await closed_loop(call, concurrency, warmup, duration, max_requests)
    finally:
        for connection in connections:
            await connection.close()
    if sample:
        result["sample_error"] = sample[0].decode(errors="replace")
    return result


async def grpc_load(
    target: str, method: str, ids: list[str], page_size: int, concurrency: int, warmup: float, duration: float,
    max_requests: int,
) -> dict[str, Any]:  # fmt: skip
    """The same reads as the gateway's, straight to tickets_svc over one channel (as the gateway holds one)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = tickets_pb2_grpc.TicketsServiceStub(channel)
        gets = [tickets_pb2.GetTicketRequest(id=ticket_id) for ticket_id in ids]
        listing = tickets_pb2.ListTicketsRequest(page_size=page_size)

        async def call(worker: int, i: int) -> bool:
            try:
                if method == "get":
                    reply = await stub.GetTicket(gets[i % len(gets)], timeout=10)
                    return bool(reply.ticket.id)
                page = await stub.ListTickets(listing, timeout=10)
                return len(page.edges) == page_size
            except grpc.aio.AioRpcError:
                return False

        return await closed_loop(call, concurrency, warmup, duration, max_requests)


# --- scenario 2: createOrder until the ticket is RESERVED, and the broker's own publish-and-consume ---


async def purchase(
    gateway_port: int, nats_url: str, tokens: list[str], ticket_ids: list[str], concurrency: int, timeout: float
) -> dict[str, Any]:
    """Each caller orders its next ticket through the gateway, then waits for `ticket.updated` RESERVED on NATS."""
    loop = asyncio.get_running_loop()
    reserved: dict[str, asyncio.Future[float]] = {}
    client = await nats.connect(nats_url, name="bench-purchase")

    async def on_update(msg: Any) -> None:
        update = ticket_events.TicketUpdated.FromString(msg.data)
        waiting = reserved.get(update.ticket_id)
        if update.status == tickets_pb2.TICKET_STATUS_RESERVED and waiting is not None and not waiting.done():
            waiting.set_result(now())

    announced: dict[str, float] = {}

    async def on_created(msg: Any) -> None:
        announced.setdefault(orders_pb2.OrderCreated.FromString(msg.data).ticket_id, now())

    await client.subscribe(events.TICKET_UPDATED, cb=on_update)
    await client.subscribe(events.ORDER_CREATED, cb=on_created)
    await client.flush()
    pending = list(ticket_ids)
    api: list[float] = []
    propagation: list[float] = []
    total: list[float] = []
    first_hop: list[float] = []  # request sent -> order.created on NATS (orders_svc, its outbox relay)
    second_hop: list[float] = []  # order.created -> ticket.updated RESERVED (tickets_svc consumer, its relay)
    failures: list[str] = []
    first_sent: list[float] = []
    last_seen: list[float] = []

    async def buyer(worker: int) -> None:
        connection = await HttpConnection.open(gateway_port)
        token = tokens[worker % len(tokens)]
        try:
            while pending:
                ticket_id = pending.pop()
                reserved[ticket_id] = loop.create_future()
                request = encode_post(gateway_port, {"query": CREATE_ORDER, "variables": {"id": ticket_id}}, token)
                t0 = now()
                first_sent.append(t0)
                status, body = await connection.post(request)
                t1 = now()
                if not graphql_ok(status, body):
                    failures.append(body[:300].decode(errors="replace"))
                    continue
                try:
                    t2 = await asyncio.wait_for(reserved[ticket_id], timeout)
                except TimeoutError:
                    failures.append(f"{ticket_id}: not RESERVED within {timeout} s")
                    continue
                last_seen.append(t2)
                api.append(t1 - t0)
                propagation.append(max(0.0, t2 - t1))
                total.append(t2 - t0)
                if ticket_id in announced:
                    first_hop.append(announced[ticket_id] - t0)
                    second_hop.append(t2 - announced[ticket_id])
        finally:
            await connection.close()

    try:
        await asyncio.wait_for(asyncio.gather(*(buyer(w) for w in range(concurrency))), timeout * 4 + 60)
    finally:
        await client.close()
    elapsed = max(last_seen) - min(first_sent) if last_seen else float("nan")
    return {
        "orders": len(total),
        "errors": len(failures),
        "sample_error": failures[0] if failures else "",
        "per_s": round(len(total) / elapsed, 1),
        **latency_summary(api, "api_"),
        **latency_summary(propagation, "prop_"),
        **latency_summary(total, "e2e_"),
        **latency_summary(first_hop, "hop1_"),
        **latency_summary(second_hop, "hop2_"),
    }


def order_created_size() -> int:
    """The size of an order.created payload as orders_svc publishes it (ids are 24 hex characters)."""
    sample = orders_pb2.OrderCreated(
        order_id=new_id(), user_id=new_id(), ticket_id=new_id(), price_cents=2500,
        expire_time=to_timestamp(dt.datetime.now(dt.UTC)), version=0,
        occur_time=to_timestamp(dt.datetime.now(dt.UTC)),
    )  # fmt: skip
    return sample.ByteSize()


async def broker(nats_url: str, count: int, concurrency: int, timeout: float) -> dict[str, Any]:
    """Raw JetStream: publish (awaiting the stream's ack, with a dedup id like ours) and consume (a durable pull
    consumer, explicit ack) payloads of order.created's size, `concurrency` in flight like the purchase scenario."""
    loop = asyncio.get_running_loop()
    client = await nats.connect(nats_url, name="bench-broker")
    js = client.jetstream()
    tag = uuid.uuid4().hex[:8]
    name, subject = f"BENCH_{tag}", f"bench.{tag}"
    await js.add_stream(StreamConfig(name=name, subjects=[subject], storage=StorageType.FILE,
                                     duplicate_window=events.DUPLICATE_WINDOW.total_seconds()))  # fmt: skip
    subscription = await js.pull_subscribe(subject, durable="bench", stream=name)
    size = order_created_size()
    arrived: dict[int, asyncio.Future[float]] = {}
    latencies: list[float] = []
    stop = asyncio.Event()

    async def consume() -> None:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(64, timeout=0.5)
            except (TimeoutError, NatsTimeoutError):
                continue
            for msg in messages:
                waiting = arrived.get(int.from_bytes(msg.data[:8], "big"))
                if waiting is not None and not waiting.done():
                    waiting.set_result(now())
                await msg.ack()

    sequence = iter(range(count))

    async def publisher() -> None:
        for i in sequence:
            arrived[i] = loop.create_future()
            payload = i.to_bytes(8, "big") + b"x" * (size - 8)
            t0 = now()
            await js.publish(subject, payload, headers={MSG_ID_HEADER: f"{subject}:{i}", "traceparent": TRACEPARENT},
                             timeout=5)  # fmt: skip
            t1 = await asyncio.wait_for(arrived[i], 10)
            latencies.append(t1 - t0)

    consumer = asyncio.create_task(consume())
    started = now()
    try:
        await asyncio.wait_for(asyncio.gather(*(publisher() for _ in range(concurrency))), timeout)
    finally:
        elapsed = now() - started
        stop.set()
        await consumer
        await js.delete_stream(name)
        await client.close()
    return {"messages": len(latencies), "payload_bytes": size, "per_s": round(len(latencies) / elapsed, 1),
            **latency_summary(latencies, "prop_")}  # fmt: skip


# --- scenario 3: one status change fanned out to many websocket subscribers, and the hub alone ---


def ticket_update(ticket_id: str, version: int) -> ticket_events.TicketUpdated:
    reserved = version % 2 == 1
    return ticket_events.TicketUpdated(
        ticket_id=ticket_id, title="Fan-out gig", price_cents=2500, seller_id=new_id(),
        status=tickets_pb2.TICKET_STATUS_RESERVED if reserved else tickets_pb2.TICKET_STATUS_AVAILABLE,
        order_id=new_id() if reserved else "", version=version,
        occur_time=to_timestamp(dt.datetime.now(dt.UTC)),
    )  # fmt: skip


class FanOut:
    """Counts deliveries per version; one change at a time (the next once every subscriber has the previous)."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.published: dict[int, float] = {}
        self.received: dict[int, list[float]] = {}
        self.complete: dict[int, asyncio.Event] = {}
        self.unexpected = 0

    def expect(self, version: int) -> None:
        self.received[version] = []
        self.complete[version] = asyncio.Event()

    def seen(self, version: int) -> None:
        got = self.received.get(version)
        if got is None:
            self.unexpected += 1
            return
        got.append(now())
        if len(got) == self.subscribers:
            self.complete[version].set()

    async def run(self, publish: Callable[[int], Awaitable[None]], first: int, count: int, timeout: float
                  ) -> dict[str, Any]:  # fmt: skip
        for version in range(first, first + count):
            self.expect(version)
        started = now()
        for version in range(first, first + count):
            self.published[version] = now()
            await publish(version)
            await asyncio.wait_for(self.complete[version].wait(), timeout)
        elapsed = max(self.received[first + count - 1]) - started
        latencies = [t - self.published[v] for v in range(first, first + count) for t in self.received[v]]
        return {"changes": count, "deliveries": len(latencies), "per_s": round(len(latencies) / elapsed, 1),
                "changes_per_s": round(count / elapsed, 2), **latency_summary(latencies)}  # fmt: skip


class RawSocket(asyncio.Protocol):
    """graphql-transport-ws over a bare websocket, parsing no more than the bench needs (no compression offered, no
    JSON decoding of `next` frames): the cheapest client, so that at tens of thousands of deliveries per second the
    load generator does not take the core away from the gateway it measures (the e2e client, `websockets` plus a
    JSON parse per message, costs several times more)."""

    def __init__(self, on_next: Callable[[bytes], None]) -> None:
        self.on_next = on_next
        self.control: asyncio.Queue[bytes] = asyncio.Queue()  # every message that is not a `next`
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    @classmethod
    async def open(cls, port: int, on_next: Callable[[bytes], None]) -> RawSocket:
        loop = asyncio.get_running_loop()
        _, socket = await loop.create_connection(lambda: cls(on_next), HOST, port)
        assert socket.transport is not None
        socket.transport.write(
            f"GET /graphql HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )
        await socket.handshake
        socket.send({"type": "connection_init", "payload": {}})
        assert json.loads(await socket.control.get())["type"] == "connection_ack"
        return socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("closed during the handshake"))
        self.control.put_nowait(b'{"type":"closed"}')

    def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        assert self.transport is not None and len(payload) < 65536
        size = bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + len(payload).to_bytes(2)
        self.transport.write(b"\x81" + size + b"\0\0\0\0" + payload)  # a text frame, masked with zeros

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self.handshake.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[9:12])
            del buffer[: end + 4]
            if status != b"101":
                self.handshake.set_exception(ConnectionError(f"handshake answered {status!r}"))
                return
            self.handshake.set_result(None)
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 0x1 and payload.startswith(b'{"id":') and b'"type":"next"' in payload[:40]:
                self.on_next(payload)
            elif opcode == 0x1:
                self.control.put_nowait(payload)
            elif opcode == 0x9 and self.transport is not None:  # ping: pong with the same payload
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


VERSION = re.compile(rb'"version":(\d+)')
TICKET_ID = re.compile(rb'"ticketId":"([^"]+)"')


async def open_raw(port: int, subscriptions: list[str], on_next: Callable[[bytes], None], timeout: float
                   ) -> RawSocket:  # fmt: skip
    """One websocket with a `ticketStatus` subscription per ticket id in `subscriptions`."""
    socket = await asyncio.wait_for(RawSocket.open(port, on_next), timeout)
    for op, ticket_id in enumerate(subscriptions):
        socket.send({"id": str(op), "type": "subscribe", "payload": {"query": TICKET_STATUS,
                                                                     "variables": {"id": ticket_id}}})  # fmt: skip
    return socket


async def ws_fanout_raw(
    port: int, nats_url: str, ticket_id: str, base_version: int, subscribers: int, changes: int, reps: int,
    timeout: float, gateway_pid: int,
) -> dict[str, Any]:  # fmt: skip
    """`subscribers` websockets (graphql-transport-ws, one `ticketStatus` each) on ONE ticket; the changes are
    published as `ticket.updated` on the gateway's NATS, as tickets_svc's relay would. Gateway CPU per delivery is
    read from /proc around each run."""
    fan = FanOut(subscribers)
    initial = FanOut(subscribers)
    initial.expect(base_version)

    def on_next(frame: bytes) -> None:
        match = VERSION.search(frame)
        if match is not None:
            version = int(match.group(1))
            (initial if version == base_version else fan).seen(version)

    publisher = await nats.connect(nats_url, name="bench-fanout")
    gate = asyncio.Semaphore(32)
    opened = now()

    async def open_one() -> RawSocket:
        async with gate:
            return await open_raw(port, [ticket_id], on_next, timeout)

    sockets = await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(subscribers))), timeout * 4)
    await asyncio.wait_for(initial.complete[base_version].wait(), timeout)
    connect_seconds = now() - opened

    async def publish(version: int) -> None:
        await publisher.publish(events.TICKET_UPDATED, ticket_update(ticket_id, version).SerializeToString())
        await publisher.flush()

    runs = []
    try:
        for rep in range(reps):
            cpu0 = cpu_seconds(gateway_pid)
            run = await fan.run(publish, base_version + 1 + rep * changes, changes, timeout)
            run["gateway_us_per_delivery"] = round((cpu_seconds(gateway_pid) - cpu0) / run["deliveries"] * 1e6, 2)
            runs.append(run)
    finally:
        for socket in sockets:
            socket.close()
        await publisher.close()
    return {"runs": runs, "connect_s": round(connect_seconds, 2), "unexpected": fan.unexpected}


async def ws_spread(
    port: int, nats_url: str, ticket_ids: list[str], base_versions: list[int], connections: int,
    per_connection: int, rounds: int, timeout: float, gateway_pid: int,
) -> dict[str, Any]:  # fmt: skip
    """`connections` x `per_connection` ticketStatus subscriptions spread evenly over `ticket_ids` (subscription j of
    connection i watches ticket (i * per_connection + j) mod n). Each round publishes one change of every ticket
    (in a burst, as a busy marketplace would) and waits for every delivery; latency = publish → received."""
    n = len(ticket_ids)
    index = {ticket_id.encode(): i for i, ticket_id in enumerate(ticket_ids)}
    watchers = [0] * n
    plan = [[ticket_ids[(i * per_connection + j) % n] for j in range(per_connection)] for i in range(connections)]
    for subscriptions in plan:
        for ticket_id in subscriptions:
            watchers[index[ticket_id.encode()]] += 1
    expected_version = list(base_versions)
    published = [0.0] * n
    latencies: list[float] = []
    remaining = [0]
    arrived = [0]
    done: list[asyncio.Event] = [asyncio.Event()]
    snapshots = asyncio.Event()
    late = [0]
    total = connections * per_connection

    def on_next(frame: bytes) -> None:
        ticket, version = TICKET_ID.search(frame), VERSION.search(frame)
        if ticket is None or version is None:
            return
        i = index[ticket.group(1)]
        if int(version.group(1)) != expected_version[i]:
            late[0] += 1  # a stale snapshot (only while opening)
            return
        arrived[0] += 1
        if arrived[0] == total:
            snapshots.set()  # every subscription has its first answer
        if published[i]:
            latencies.append(now() - published[i])
            remaining[0] -= 1
            if remaining[0] == 0:
                done[0].set()

    publisher = await nats.connect(nats_url, name="bench-spread")
    gate = asyncio.Semaphore(32)
    opened = now()

    async def open_one(subscriptions: list[str]) -> RawSocket:
        async with gate:
            return await open_raw(port, subscriptions, on_next, timeout)

    sockets = await asyncio.wait_for(asyncio.gather(*(open_one(p) for p in plan)), timeout * 8)
    await asyncio.wait_for(snapshots.wait(), timeout * 2)
    connect_seconds = now() - opened
    runs = []
    try:
        for _ in range(rounds):
            latencies.clear()
            done[0] = asyncio.Event()
            remaining[0] = total
            expected_version[:] = [v + 1 for v in expected_version]
            cpu0 = cpu_seconds(gateway_pid)
            started = now()
            for i, ticket_id in enumerate(ticket_ids):
                published[i] = now()
                await publisher.publish(events.TICKET_UPDATED,
                                        ticket_update(ticket_id, expected_version[i]).SerializeToString())  # fmt: skip
            await publisher.flush()
            await asyncio.wait_for(done[0].wait(), timeout)
            elapsed = now() - started
            runs.append({"deliveries": len(latencies), "per_s": round(len(latencies) / elapsed, 1),
                         "gateway_us_per_delivery": round((cpu_seconds(gateway_pid) - cpu0) / len(latencies) * 1e6, 2),
                         **latency_summary(latencies)})  # fmt: skip
    finally:
        for socket in sockets:
            socket.close()
        await publisher.close()
    return {"runs": runs, "connect_s": round(connect_seconds, 2), "subscriptions": total, "connections": connections,
            "tickets": n}  # fmt: skip


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def hub_fanout(nats_url: str, subscribers: int, changes: int, reps: int, timeout: float) -> dict[str, Any]:
    """The ceiling: the gateway's LiveHub in this process, fed with `publish_local`, its subscribers read directly."""
    hub = LiveHub(nats_url, name="bench-hub")
    await hub.start()
    ticket_id = new_id()
    fan = FanOut(subscribers)
    async with contextlib.AsyncExitStack() as stack:
        subscribers_ = [await stack.enter_async_context(hub.subscribe(("ticket", ticket_id)))
                        for _ in range(subscribers)]  # fmt: skip

        async def listen(subscriber: Any) -> None:
            while True:
                item = await subscriber.next()
                fan.seen(int(item.version))

        listeners = [asyncio.create_task(listen(s)) for s in subscribers_]

        async def publish(version: int) -> None:
            hub.publish_local(events.TICKET_UPDATED, ticket_update(ticket_id, version))

        runs = []
        try:
            for rep in range(reps):
                runs.append(await fan.run(publish, 1 + rep * changes, changes, timeout))
        finally:
            await cancel_all(listeners)
    await hub.stop()
    return {"runs": runs}


async def hub_spread(nats_url: str, tickets: int, subscriptions: int, rounds: int, timeout: float) -> dict[str, Any]:
    """The ceiling of the spread scenario: the hub in this process, `subscriptions` subscribers over `tickets`
    entities, each round one change of every entity (publish_local), read directly by the subscribers."""
    hub = LiveHub(nats_url, name="bench-hub-spread")
    await hub.start()
    ids = [new_id() for _ in range(tickets)]
    published = [0.0] * tickets
    latencies: list[float] = []
    remaining = [0]
    done = [asyncio.Event()]
    async with contextlib.AsyncExitStack() as stack:
        subscribers = [(i % tickets, await stack.enter_async_context(hub.subscribe(("ticket", ids[i % tickets]))))
                       for i in range(subscriptions)]  # fmt: skip

        async def listen(i: int, subscriber: Any) -> None:
            while True:
                await subscriber.next()
                latencies.append(now() - published[i])
                remaining[0] -= 1
                if remaining[0] == 0:
                    done[0].set()

        listeners = [asyncio.create_task(listen(i, s)) for i, s in subscribers]
        runs = []
        try:
            for version in range(1, rounds + 1):
                latencies.clear()
                remaining[0] = subscriptions
                done[0] = asyncio.Event()
                started = now()
                for i, ticket_id in enumerate(ids):
                    published[i] = now()
                    hub.publish_local(events.TICKET_UPDATED, ticket_update(ticket_id, version))
                    if i % 64 == 63:
                        await asyncio.sleep(0)  # a burst, as NATS would hand it over: in batches
                await asyncio.wait_for(done[0].wait(), timeout)
                elapsed = now() - started
                runs.append({"deliveries": len(latencies), "per_s": round(len(latencies) / elapsed, 1),
                             **latency_summary(latencies)})  # fmt: skip
        finally:
            await cancel_all(listeners)
    await hub.stop()
    return {"runs": runs}


# --- scenario 4: many pending timers in a running expiration_svc ---


async def redis_used_memory(redis: Any) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def service_timers(
    redis_url: str,
    nats_url: str,
    grpc_port: int,
    service_pid: int,
    prefix: str,
    timers: int,
    lead: float,
    span: float,
    window: float,
    timeout: float,
) -> dict[str, Any]:
    """`timers` timers in the Redis of a running expiration_svc process (written as another replica's listener
    would, straight into the store), due from `lead` s on, spread evenly over `span` s (0: all at once). Measured:
    the timers due within the first `window` s (all of them when `span` is 0); lateness = the broker's stored
    timestamp of each `expiration.complete` (as observed on JetStream) minus its due time."""
    redis = connect_redis(redis_url)
    bus = await EventBus.connect(nats_url, "bench-service-timers")
    store = TimerStore(redis, prefix)
    try:
        await wait_serving(grpc_port, 60)
        await bus.ensure_streams()
        await bus.js.purge_stream("EXPIRATION")
        before = await redis_used_memory(redis)
        added_from = time.time()
        first_due = round((added_from + lead) * 1000)
        step = span * 1000 / timers
        due_by_id = {new_id(): first_due + round(i * step) for i in range(timers)}
        added = await store.add_many(list(due_by_id.items()))
        added_at = time.time()
        pending_memory = await redis_used_memory(redis)
        last_due = first_due + min(window, span) * 1000
        measured = {order_id: due for order_id, due in due_by_id.items() if due <= last_due}
        await asyncio.sleep(max(0.0, first_due / 1000 - time.time()))
        cpu_from, wall_from = cpu_seconds(service_pid), time.time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # until every measured timer is in the stream (bounded)
            await asyncio.sleep(0.2)
            if time.time() * 1000 > last_due and await stream_messages(bus) >= len(measured):
                break
        cpu = (cpu_seconds(service_pid) - cpu_from) / max(1e-9, time.time() - wall_from)
        stored = await stored_times(bus, set(measured))
        if span == 0:  # every timer acknowledged: the fired timers' tombstones are what is left
            await bounded_until(lambda: _none_claimed(store), 30)
        after = await redis_used_memory(redis)
    finally:
        await redis.delete(store.timers_key, store.claimed_key, store.closed_key)
        await redis.aclose()
        await bus.close()
    lateness = [stored[order_id] - measured[order_id] / 1000 for order_id in stored]
    fire_span = max(stored.values()) - min(measured.values()) / 1000 if stored else math.nan
    return {
        "timers": timers, "added": added, "measured": len(measured), "fired": len(stored),
        "add_s": round(added_at - added_from, 2), "margin_s": round(first_due / 1000 - added_at, 2),
        "lateness_p50_ms": ms(percentile(lateness, 50)), "lateness_p99_ms": ms(percentile(lateness, 99)),
        "lateness_max_ms": ms(max(lateness) if lateness else math.nan),
        "fire_per_s": round(len(stored) / max(1e-9, fire_span), 1), "service_cores": round(cpu, 3),
        "bytes_per_timer": round((pending_memory - before) / timers, 1),
        "bytes_per_tombstone": round((after - before) / timers, 1) if span == 0 else math.nan,
    }  # fmt: skip


async def wait_serving(port: int, timeout: float) -> None:
    """Until the gRPC health check of the service on `port` answers SERVING (bounded)."""
    async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        await bounded_until(serving, timeout)


async def bounded_until(condition: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout} s")
        await asyncio.sleep(0.1)


async def _none_claimed(store: TimerStore) -> bool:
    return (await store.counts())[1] == 0


async def stream_messages(bus: EventBus) -> int:
    return int((await bus.js.stream_info("EXPIRATION")).state.messages)


async def stored_times(bus: EventBus, wanted: set[str]) -> dict[str, float]:
    """When the broker stored the `expiration.complete` of each order in `wanted` (epoch s), read back from the
    stream with an ephemeral consumer (no acks), up to what the stream held when the read began."""
    last = int((await bus.js.stream_info("EXPIRATION")).state.last_seq)
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, max_ack_pending=-1)
    subscription = await bus.js.pull_subscribe(events.EXPIRATION_COMPLETE, stream="EXPIRATION", config=config)
    stored: dict[str, float] = {}
    try:
        seq = 0
        while seq < last:
            try:
                batch = await subscription.fetch(1000, timeout=2)
            except (TimeoutError, NatsTimeoutError):
                break
            for msg in batch:
                seq = msg.metadata.sequence.stream
                order_id = expiration_pb2.ExpirationComplete.FromString(msg.data).order_id
                if order_id in wanted:
                    stored.setdefault(order_id, msg.metadata.timestamp.timestamp())
    finally:
        await subscription.unsubscribe()
    return stored


async def raw_publish(nats_url: str, count: int, timeout: float) -> dict[str, Any]:
    """The ceiling of firing: the same announcements published straight to JetStream in the scheduler's batches (its
    default batch size), each batch sent at once and its acks awaited together."""
    bus = await EventBus.connect(nats_url, "bench-raw-publish")
    size = ExpirationSettings.model_fields["batch_size"].default
    stamp = to_timestamp(dt.datetime.now(dt.UTC))
    ids = [new_id() for _ in range(count)]
    subject = events.EXPIRATION_COMPLETE
    batches = [[(expiration_pb2.ExpirationComplete(order_id=order_id, occur_time=stamp).SerializeToString(),
                 events.msg_id(subject, order_id)) for order_id in ids[start : start + size]]
               for start in range(0, count, size)]  # fmt: skip
    started = now()
    try:
        for batch in batches:
            results = await asyncio.wait_for(publish_batch(bus.js, subject, batch), timeout)
            if failed := [r for r in results if r is not None]:
                raise RuntimeError(f"{len(failed)} publishes failed: {failed[0]}")
    finally:
        elapsed = now() - started
        await bus.close()
    return {"messages": count, "per_s": round(count / elapsed, 1)}


async def redis_zset(redis_url: str, members: int) -> dict[str, Any]:
    """The memory ceiling: the same number of 24-character members in one bare sorted set."""
    redis = connect_redis(redis_url)
    key = f"bench-bare-{uuid.uuid4().hex[:8]}"
    before = await redis_used_memory(redis)
    due = round(time.time() * 1000)
    ids = [new_id() for _ in range(members)]
    for start in range(0, members, 5000):
        await redis.zadd(key, dict.fromkeys(ids[start : start + 5000], due))
    after = await redis_used_memory(redis)
    await redis.delete(key)
    await redis.aclose()
    return {"bytes_per_member": round((after - before) / members, 1)}


OPS: dict[str, Callable[..., Coroutine[Any, Any, dict[str, Any]]]] = {
    "http_load": http_load,
    "grpc_load": grpc_load,
    "purchase": purchase,
    "broker": broker,
    "hub_fanout": hub_fanout,
    "ws_fanout_raw": ws_fanout_raw,
    "ws_spread": ws_spread,
    "hub_spread": hub_spread,
    "service_timers": service_timers,
    "raw_publish": raw_publish,
    "redis_zset": redis_zset,
}


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            result: dict[str, Any] = uvloop.run(OPS[command["op"]](**command["args"]))
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as error:
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
