"""Helpers of the tickets_svc tests (fixtures live in conftest.py)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from google.protobuf.message import Message
from nats.js import JetStreamContext

from common import events
from common.testing.grpc import bearer
from common.testing.plugin import JwtKeys


@dataclass(frozen=True)
class User:
    id: str
    email: str
    metadata: tuple[tuple[str, str], ...]


def make_user(jwt_keys: JwtKeys, name: str) -> User:
    user_id = uuid.uuid4().hex[:24]
    email = f"{name}@example.com"
    return User(user_id, email, bearer(jwt_keys.issuer.issue(user_id, email).token))


class StreamWatcher:
    """Reads what lands on a real stream through a pull subscription of its own."""

    def __init__(self, subscription: JetStreamContext.PullSubscription) -> None:
        self._subscription = subscription
        self.seen: list[tuple[str, Message, str]] = []  # (subject, payload, Nats-Msg-Id)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, Message, str]]:
        """At least `count` messages in all (bounded wait)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, saw {len(self.seen)}: {self.seen}")
            await self.poll(wait=0.2)
        return self.seen

    async def poll(self, wait: float = 0.2) -> list[tuple[str, Message, str]]:
        try:
            batch = await self._subscription.fetch(batch=100, timeout=wait)
        except Exception:  # nothing new within `wait`
            batch = []
        for msg in batch:
            await msg.ack()
            self.seen.append((msg.subject, events.decode(msg.subject, msg.data), (msg.headers or {})["Nats-Msg-Id"]))
        return self.seen
