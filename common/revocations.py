"""Signed-out sessions, as every process that verifies tokens knows them (SPEC.md: refused within 2 seconds).

auth_svc records a sign-out and publishes `session.revoked` (token id + the token's expiry) through its outbox.
Each service follows the SESSIONS stream with an ordered consumer from its first message, so a process that starts
later learns every revocation still in force, and keeps the ids in memory until their tokens expire (after that the
signature check refuses them anyway). No per-request look-up: verifying stays local and works through a NATS
outage (revocations made during it arrive when it ends). The stream keeps messages as long as the longest token
lives (common.events.MAX_TOKEN_TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from common import events
from ticketstore.events.v1 import sessions_pb2

log = logging.getLogger(__name__)


class Revocations:
    """Token ids refused until their expiry; `token_id in revocations` is what the verifier asks."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}  # token id -> expiry (epoch seconds)
        self._subscription: Subscription | None = None
        self._next_prune = 0.0

    def __contains__(self, token_id: object) -> bool:
        self._prune()
        return isinstance(token_id, str) and token_id in self._until

    def __len__(self) -> int:
        self._prune()
        return len(self._until)

    def add(self, event: sessions_pb2.SessionRevoked) -> None:
        expires = event.expire_time.seconds + event.expire_time.nanos / 1e9
        if expires > time.time():
            self._until[event.token_id] = expires

    async def follow(self, js: JetStreamContext, catch_up_timeout: float = 10.0) -> None:
        """Subscribe from the first message and return once what the stream held at the start is applied."""
        stream = events.stream_for(events.SESSION_REVOKED).name
        state = (await js.stream_info(stream)).state
        last = state.last_seq
        caught_up = asyncio.Event()
        if state.messages == 0:
            caught_up.set()

        async def on_message(msg: Msg) -> None:
            try:
                self.add(sessions_pb2.SessionRevoked.FromString(msg.data))
            except DecodeError:
                log.warning("undecodable session.revoked ignored")
            if msg.metadata.sequence.stream >= last:
                caught_up.set()

        self._subscription = await js.subscribe(
            events.SESSION_REVOKED, cb=on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        try:
            await asyncio.wait_for(caught_up.wait(), catch_up_timeout)
        except TimeoutError:
            log.warning("revoked sessions not fully loaded after %.0f s; continuing to follow", catch_up_timeout)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    def _prune(self) -> None:
        now = time.time()
        if now < self._next_prune:
            return
        self._next_prune = now + 60
        self._until = {token_id: until for token_id, until in self._until.items() if until > now}
