"""The live hub: ONE core NATS subscription per subject family (`ticket.updated`, `order.>`) for the whole gateway
process, fanned out in memory to the websocket subscribers interested in one entity.

Events published to JetStream reach plain NATS subscribers too, so the hub needs no consumer state. Each subscriber
has a bounded queue: when it is full (the client does not keep up) that subscriber alone is dropped, so one slow
client never holds up the others or the NATS connection. After NATS reconnects, every subscriber is told to
re-read its entity (events published during the outage were not seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import nats
from google.protobuf.message import DecodeError, Message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from common import events, tracing

log = logging.getLogger(__name__)

SUBJECTS = ("ticket.>", "order.>")  # every ticket event: the response cache (gateway.responses) drops on any
Key = tuple[str, str]  # ("ticket", ticket id) or ("order", order id)


class Signal(enum.Enum):
    RESYNC = "resync"  # events may have been missed: re-read the entity
    DROPPED = "dropped"  # this subscriber fell too far behind
    CLOSED = "closed"  # the hub is stopping


class SubscriberDropped(Exception):
    """The subscriber's queue overflowed, or the hub stopped."""


def key_of(subject: str, message: Message) -> Key | None:
    if subject == events.TICKET_UPDATED:
        return ("ticket", str(message.ticket_id))  # type: ignore[attr-defined]
    if subject.startswith("order."):
        return ("order", str(message.order_id))  # type: ignore[attr-defined]
    return None


class Subscriber:
    def __init__(self, key: Key, size: int) -> None:
        self.key = key
        self._queue: asyncio.Queue[Message | Signal] = asyncio.Queue(maxsize=size)
        self.dropped = False

    def offer(self, item: Message | Signal) -> bool:
        """Queue `item` without waiting; False when this subscriber is (now) dropped."""
        if self.dropped:
            return False
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._replace_all(Signal.DROPPED)
            return False
        return True

    def close(self) -> None:
        self._replace_all(Signal.CLOSED)

    def _replace_all(self, signal: Signal) -> None:
        self.dropped = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(signal)

    async def next(self) -> Message | Signal:
        """The next event, or RESYNC. Raises SubscriberDropped once dropped or closed."""
        item = await self._queue.get()
        if item is Signal.DROPPED or item is Signal.CLOSED:
            self._queue.put_nowait(item)  # every later call fails the same way
            raise SubscriberDropped(item.value)
        return item


class LiveHub:
    def __init__(
        self,
        nats_url: str,
        queue_size: int = 256,
        name: str = "gateway",
        connect_options: Mapping[str, str] | None = None,  # credentials and inbox (common.natsauth.connect_options)
    ) -> None:
        self._url = nats_url
        self._connect_options = dict(connect_options or {})
        self._queue_size = queue_size
        self._name = name
        self._client: NatsClient | None = None
        self._nats_subscriptions: list[NatsSubscription] = []
        self._subscribers: dict[Key, set[Subscriber]] = {}
        self._stopping = False
        self._watchers: list[Callable[[str], None]] = []
        self.delivered = 0
        self.dropped = 0

    @property
    def nats_subscription_count(self) -> int:
        return len(self._nats_subscriptions)

    @property
    def subscriber_count(self) -> int:
        return sum(len(group) for group in self._subscribers.values())

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def start(self) -> None:
        self._stopping = False
        self._client = await nats.connect(
            self._url,
            name=self._name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            reconnected_cb=self._on_reconnected,
            disconnected_cb=self._on_disconnected,
            error_cb=self._on_error,
            **self._connect_options,
        )
        for subject in SUBJECTS:
            self._nats_subscriptions.append(await self._client.subscribe(subject, cb=self._on_message))
        log.info("live hub subscribed to %s", ", ".join(SUBJECTS))

    async def stop(self) -> None:
        self._stopping = True
        for group in self._subscribers.values():
            for subscriber in group:
                subscriber.close()
        self._subscribers.clear()
        if self._client is not None and not self._client.is_closed:
            with contextlib.suppress(Exception):
                await self._client.drain()
        self._nats_subscriptions.clear()
        self._client = None

    def watch(self, watcher: Callable[[str], None]) -> None:
        """`watcher(subject)` on every event, before its subscribers hear of it; `watcher("")` when the connection
        drops or comes back (events may have been missed)."""
        self._watchers.append(watcher)

    def _tell(self, subject: str) -> None:
        for watcher in self._watchers:
            watcher(subject)

    @contextlib.asynccontextmanager
    async def subscribe(self, key: Key) -> AsyncIterator[Subscriber]:
        """A subscriber for one entity's events, registered for as long as the block runs."""
        subscriber = Subscriber(key, self._queue_size)
        if self._client is None:
            subscriber.close()
        self._subscribers.setdefault(key, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            group = self._subscribers.get(key)
            if group is not None:
                group.discard(subscriber)
                if not group:
                    del self._subscribers[key]

    def publish_local(self, subject: str, message: Message) -> None:
        """Fan `message` out to the subscribers of its entity."""
        key = key_of(subject, message)
        if key is None:
            return
        for subscriber in list(self._subscribers.get(key, ())):
            if subscriber.offer(message):
                self.delivered += 1
            else:
                self.dropped += 1
                log.warning("dropping a slow subscriber of %s/%s", *key)
                self._forget(subscriber)

    def _forget(self, subscriber: Subscriber) -> None:
        group = self._subscribers.get(subscriber.key)
        if group is not None:
            group.discard(subscriber)
            if not group:
                del self._subscribers[subscriber.key]

    async def _on_message(self, msg: Msg) -> None:
        self._tell(msg.subject)
        try:
            message = events.decode(msg.subject, msg.data)
        except KeyError:
            return  # a subject of the family we do not show live (none today)
        except DecodeError:
            log.warning("undecodable %s event ignored", msg.subject)
            return
        with tracing.consume_span(msg.subject, msg.headers, "gateway-live", 1):  # the trace's last hop
            self.publish_local(msg.subject, message)

    async def _on_reconnected(self) -> None:
        log.info("live hub reconnected to NATS; subscribers re-read their entities")
        self._tell("")
        for group in list(self._subscribers.values()):
            for subscriber in list(group):
                if not subscriber.offer(Signal.RESYNC):
                    self._forget(subscriber)

    async def _on_disconnected(self) -> None:
        self._tell("")
        if not self._stopping:
            log.warning("live hub lost its NATS connection; reconnecting")

    async def _on_error(self, error: Any) -> None:
        log.warning("live hub NATS error: %s", error)
