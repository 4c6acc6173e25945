"""Helpers of the expiration_svc tests (fixtures live in conftest.py): order events as orders_svc publishes them,
and expiration.complete read as orders_svc would."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from common import events
from common.bus import EventBus
from common.timestamps import to_timestamp
from expiration_svc.app import ExpirationApp
from ticketstore.events.v1 import expiration_pb2, orders_pb2

DEADLINE = 20.0
StartApp = Callable[..., Awaitable[ExpirationApp]]


def order_created(order_id: str, expire_at: float) -> orders_pb2.OrderCreated:
    return orders_pb2.OrderCreated(
        order_id=order_id,
        user_id="u" * 24,
        ticket_id="t" * 24,
        price_cents=1000,
        expire_time=to_timestamp(dt.datetime.fromtimestamp(expire_at, dt.UTC)),
        version=0,
    )


async def publish_created(bus: EventBus, order_id: str, expire_at: float, msg_id: str | None = None) -> None:
    message = order_created(order_id, expire_at)
    await bus.publish(events.ORDER_CREATED, message, msg_id or events.msg_id(events.ORDER_CREATED, order_id, 0))


async def publish_closed(bus: EventBus, subject: str, order_id: str, version: int = 1) -> None:
    payload = events.PAYLOADS[subject](order_id=order_id, user_id="u" * 24, ticket_id="t" * 24, version=version)
    await bus.publish(subject, payload, events.msg_id(subject, order_id, version))


async def orders_consumed(bus: EventBus) -> bool:
    """expiration_svc's durable consumer has handled (and acknowledged) every order event."""
    info = await bus.js.consumer_info("ORDERS", "expiration_svc")
    return info.num_pending == 0 and info.num_ack_pending == 0


class Expirations:
    """Reads expiration.complete from the EXPIRATION stream, as orders_svc would (a durable pull consumer)."""

    def __init__(self, bus: EventBus, subscription: JetStreamContext.PullSubscription) -> None:
        self._bus = bus
        self._subscription = subscription
        self.received: list[tuple[str, float]] = []  # (order id, monotonic-free wall time of receipt)

    async def collect(self, count: int, timeout: float = DEADLINE) -> list[str]:
        """Wait until `count` messages arrived in total; returns every order id received so far."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(self.received)} expiration.complete received, expected {count}")
            try:
                messages = await self._subscription.fetch(min(1000, count - len(self.received)),
                                                          timeout=min(1.0, remaining))  # fmt: skip
            except (TimeoutError, NatsTimeoutError):
                continue
            now = time.time()
            for msg in messages:
                payload = events.decode(msg.subject, msg.data)
                assert isinstance(payload, expiration_pb2.ExpirationComplete)
                self.received.append((payload.order_id, now))
                await msg.ack()
        return [order_id for order_id, _ in self.received]

    async def stream_count(self) -> int:
        """Messages in the stream: the distinct announcements (the broker dropped dedup-id repeats)."""
        info = await self._bus.js.stream_info("EXPIRATION")
        return int(info.state.messages)
