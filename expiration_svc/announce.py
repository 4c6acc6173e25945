"""Announcements published as one batch: every message of a claim goes out at once (JetStream's async publish, no
task per message) and their acks are awaited together, within one timeout.

An ack that does not come in time counts as a failure of that message: the scheduler gives its timer back and tries
again later, and the broker drops a repeat of one that did get stored (its `Nats-Msg-Id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.api import PubAck

from common import tracing
from common.bus import MSG_ID_HEADER

ACK_TIMEOUT = 5.0  # seconds, as EventBus.publish waits for one ack


class AckTimeout(TimeoutError):
    """The broker did not acknowledge a message within the batch's timeout."""


async def publish_batch(
    js: JetStreamContext, subject: str, messages: Sequence[tuple[bytes, str]], timeout: float = ACK_TIMEOUT
) -> list[BaseException | None]:
    """Publish `(payload, msg_id)` pairs on `subject`; per message, None once the stream acknowledged it, else the
    error. The current trace context goes along as `traceparent`, as EventBus.publish sends it."""
    context = tracing.carrier()
    acks: list[asyncio.Future[PubAck]] = []
    results: list[BaseException | None] = []
    try:
        for payload, msg_id in messages:
            headers = {**context, MSG_ID_HEADER: msg_id}
            acks.append(await js.publish_async(subject, payload, wait_stall=timeout, headers=headers))
    except Exception as error:  # noqa: BLE001 (the connection went away: what was not sent failed with it)
        results = [error] * (len(messages) - len(acks))
    if acks:
        _, late = await asyncio.wait(acks, timeout=timeout)
        for ack in late:
            ack.cancel()  # frees its place in the client's pending publishes
    return [_outcome(ack) for ack in acks] + results


def _outcome(ack: asyncio.Future[PubAck]) -> BaseException | None:
    if ack.cancelled():
        return AckTimeout("no ack from the stream in time")
    return ack.exception()
