"""The JetStream event bus: durable streams, deduplicated publishes, durable pull consumers.

Delivery is at least once. Handlers are registered per subject with `Handlers().on(subject, handler)`, typed by
the payload the subject carries (common.events), and return an `Outcome`:
  APPLIED / DUPLICATE  -> ack
  EARLY                -> nak with a delay (the event it depends on has not arrived yet)
A handler that raises `PermanentFailure` (the message can never succeed: it fails validation, or a bug makes it
unprocessable), and a payload that cannot be decoded, go to the DEADLETTERS stream (subject
`deadletter.<consumer>.<original subject>`, with the error) and are terminated; `python -m common.deadletters`
lists and replays them. Any other exception is a transient failure (MongoDB, Redis, Stripe or NATS down, a timeout):
the message is redelivered with capped exponential backoff, without limit, so an outage delays work but loses
none. EARLY messages are redelivered the same way. While a handler works, the broker is told so (`in_progress`)
so a slow handler is not redelivered to another replica at the same time; a handler stuck longer than
`handler_timeout` is cancelled and retried.

Order and concurrency: a consumer runs `lanes` handlers at once. Each message goes to the lane of its entity
(`lane_of`: a pure function of the entity key, which is the entity id of the message's `Nats-Msg-Id` unless the
subject's handler names another key), and each lane handles and acks its messages one after the other, in stream
order. So events of one entity are always handled in the order they were published, and different entities
overlap. With one lane (the default) the consumer is strictly sequential. Acks are sent without waiting for the
broker's confirmation: an ack that is lost only means a redelivery, which the versioned replicas turn into a
duplicate (acknowledged, nothing changed).

Each consumer's loop runs under `common.supervisor`: if acking, dead-lettering or terming raises (NATS
reconnecting), the loop is restarted with backoff and the service reports NOT_SERVING meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from google.protobuf.message import DecodeError, Message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from common import events, metrics, natsauth, tracing
from common.errors import PermanentFailure
from common.supervisor import Supervisor
from common.versioning import Outcome as Outcome  # re-exported: handlers import it from here with Delivery

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Message)

MSG_ID_HEADER = "Nats-Msg-Id"
ERROR_HEADER = "Ts-Error"
ORIGINAL_SUBJECT_HEADER = "Ts-Original-Subject"
# JetStream API error codes when another process created the stream between our look-up and our create:
# "stream name already in use" and "subjects overlap with an existing stream".
CREATED_MEANWHILE = frozenset({10058, 10065})
ALL_STREAMS = (*events.STREAMS, events.DEAD_LETTERS)


@dataclass(frozen=True)
class Delivery:
    subject: str
    attempt: int  # 1 on first delivery
    trace_id: str  # of the W3C `traceparent` the message carries ("" without one), for logs


Handler = Callable[[M, Delivery], Awaitable[Outcome]]
LaneKey = Callable[[M], str]  # the entity whose events must stay in order, read from the payload


def lane_of(entity_key: str, lanes: int) -> int:
    """The lane (0 .. lanes-1) that handles the events of `entity_key`: the same for every message of the entity,
    in every process (crc32, not Python's per-process salted hash)."""
    if lanes < 1:
        raise ValueError(f"a consumer needs at least one lane, not {lanes}")
    return zlib.crc32(entity_key.encode()) % lanes


def msg_id_entity(msg_id: str) -> str:
    """The entity id in a `<subject>:<entity id>[:<version>]` dedup id (common.events.msg_id); the whole id when it
    has another shape (a message published by hand)."""
    parts = msg_id.split(":")
    return parts[1] if len(parts) in (2, 3) else msg_id


class Handlers(Mapping[str, Handler[Any]]):
    """Event handlers keyed by subject. `on` is where the types meet: mypy checks that a handler takes the payload
    its subject carries, and the consumer decodes exactly that payload, so a handler needs no isinstance check.
    `key` (optional) names the entity whose events must be handled in order (see the module docstring); without
    one it is the entity id of the message's `Nats-Msg-Id`."""

    def __init__(self) -> None:
        self._by_subject: dict[str, Handler[Any]] = {}
        self.lane_keys: dict[str, LaneKey[Any]] = {}

    def on(self, subject: events.Subject[M], handler: Handler[M], key: LaneKey[M] | None = None) -> Handlers:
        self._by_subject[subject] = handler
        if key is not None:
            self.lane_keys[subject] = key
        return self

    def __getitem__(self, subject: str) -> Handler[Any]:
        return self._by_subject[subject]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_subject)

    def __len__(self) -> int:
        return len(self._by_subject)


@dataclass(frozen=True)
class RetryPolicy:
    """Redelivery of EARLY messages and transient failures: exponential from `first_delay`, capped at `max_delay`,
    never given up (an outage of any length only delays the message)."""

    first_delay: float = 0.2
    max_delay: float = 10.0
    ack_wait: float = 10.0  # a message handed to a consumer that died is redelivered after this
    handler_timeout: float = 120.0  # a handler stuck this long (a hung dependency) is cancelled and retried

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** min(attempt - 1, 30)))


@dataclass
class ConsumerStats:
    """Counters of one consumer (the hook for metrics)."""

    handled: int = 0  # acknowledged (applied, duplicate, or no handler)
    early: int = 0  # EARLY: redelivered later
    retried: int = 0  # transient failures: redelivered later
    dead_lettered: int = 0


class EventBus:
    def __init__(self, client: NatsClient, js: JetStreamContext, stream_replicas: int = 1) -> None:
        self.client = client
        self.js = js
        self._stream_replicas = stream_replicas

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        stream_replicas: int = 1,
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> EventBus:
        """Connect as NATS user `user` (default: `name`) when `password` is given, else with what `url` carries,
        and ensure the streams that user creates (common.natsauth; a name that is no service's: all of them)."""
        client = await nats.connect(
            url,
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            **natsauth.connect_options(name, user, password),
        )
        bus = cls(client, client.jetstream(), stream_replicas)
        owned, read = natsauth.streams_ensured_by(name)
        await bus.ensure_streams(owned, read)
        return bus

    async def close(self) -> None:
        """Drain (finish what is in flight) when connected; just close when NATS is unreachable."""
        if self.client.is_closed:
            return
        try:
            await self.client.drain()
        except Exception:  # e.g. reconnecting: nothing can be drained
            log.warning("NATS drain failed; closing", exc_info=True)
            await self.client.close()

    async def ensure_streams(
        self, owned: Sequence[events.Stream] = ALL_STREAMS, read: Sequence[events.Stream] = ()
    ) -> None:
        """Create our streams (idempotent): file storage, broker-side dedup window. Streams we own are updated to
        this configuration; those we only read are created when missing (their owner may not have started yet)
        and otherwise left to their owner."""
        for stream in (*owned, *read):
            config = StreamConfig(
                name=stream.name,
                subjects=list(stream.subjects),
                storage=StorageType.FILE,
                duplicate_window=events.DUPLICATE_WINDOW.total_seconds(),
                num_replicas=self._stream_replicas,
                max_age=stream.max_age.total_seconds() if stream.max_age else None,
            )
            await self._create_or_update(config, update=stream in owned)

    async def _create_or_update(self, config: StreamConfig, update: bool = True) -> None:
        """Services starting at the same moment race to create a stream; the loser finds it (and updates it)."""
        for _ in range(3):
            try:
                await self.js.stream_info(config.name or "")
            except NotFoundError:
                try:
                    await self.js.add_stream(config)
                    return
                except BadRequestError as error:
                    if error.err_code not in CREATED_MEANWHILE:
                        raise
                    continue
            if update:
                await self.js.update_stream(config)
            return
        raise RuntimeError(f"stream {config.name} could be neither created nor found")

    async def publish(self, subject: str, message: Message, msg_id: str) -> None:
        await self.publish_raw(subject, message.SerializeToString(), msg_id)

    async def publish_raw(self, subject: str, payload: bytes, msg_id: str) -> None:
        """Publish and wait for the stream's ack; a repeat of `msg_id` within the window is dropped by the broker.
        The current trace context goes along as W3C `traceparent` header (common.tracing)."""
        headers = {**tracing.carrier(), MSG_ID_HEADER: msg_id}
        await self.js.publish(subject, payload, headers=headers, timeout=5)

    async def consume(
        self,
        durable: str,
        filter_subject: str,
        handlers: Mapping[str, Handler[Any]],
        retry: RetryPolicy | None = None,
        supervisor: Supervisor | None = None,
        lanes: int = 1,
    ) -> Consumer:
        """Start a durable pull consumer; subjects without a handler are acknowledged and skipped.

        `lanes`: how many entities' events are handled at once (see the module docstring; 1 = one at a time).
        Its loop runs under `supervisor` (the runtime's, which reports health); without one, under its own."""
        stream = events.stream_for(filter_subject.replace(">", "x"))
        retry = retry or RetryPolicy()
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,  # only our own code dead-letters (permanent failures), never the broker
            ack_wait=retry.ack_wait,
            filter_subject=filter_subject,
        )
        subscription = await self.js.pull_subscribe(filter_subject, durable=durable, stream=stream.name, config=config)
        keys = handlers.lane_keys if isinstance(handlers, Handlers) else {}
        consumer = Consumer(self, durable, filter_subject, subscription, dict(handlers), retry, lanes, keys)
        consumer.start(supervisor or Supervisor())
        return consumer


class Consumer:
    """Processes one durable consumer's messages until stopped: in order per entity, `lanes` entities at a time."""

    def __init__(
        self,
        bus: EventBus,
        durable: str,
        filter_subject: str,
        subscription: JetStreamContext.PullSubscription,
        handlers: dict[str, Handler[Any]],
        retry: RetryPolicy,
        lanes: int = 1,
        keys: Mapping[str, LaneKey[Any]] | None = None,
    ) -> None:
        lane_of("", lanes)  # refuses a lane count below 1 here, not in the loop
        self._bus = bus
        self.lanes = lanes
        self._keys = dict(keys or {})
        self.durable = durable
        self.name = f"consumer:{durable}:{filter_subject}"
        self._subscription = subscription
        self._handlers = handlers
        self._retry = retry
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._busy = False
        self.stats = ConsumerStats()

    def start(self, supervisor: Supervisor) -> None:
        self._task = supervisor.spawn(self.name, self._run)

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish the messages in hand (one per lane, acks included), then stop; the rest of a batch is redelivered
        later."""
        self._stopping = True
        if self._task is not None and not self._busy:
            self._task.cancel()  # idle (waiting in fetch): nothing in hand to finish
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.CancelledError:
                pass  # it was idle and is now cancelled
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        with contextlib.suppress(Exception):
            await self._subscription.unsubscribe()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                messages = await self._subscription.fetch(batch=64, timeout=1.0)
            except (TimeoutError, NatsTimeoutError):
                continue
            except Exception:
                if self._stopping:
                    return
                log.exception("%s: fetch failed; retrying", self.durable)
                await asyncio.sleep(1.0)
                continue
            self._busy = True
            try:
                if self.lanes == 1:
                    await self._run_lane(messages)
                else:
                    # A lane that fails (an ack or dead-letter publish raising) cancels the others, so no lane
                    # outlives the loop that the supervisor restarts (its entity's next events would overlap it).
                    async with asyncio.TaskGroup() as lanes:
                        for lane in self._by_lane(messages):
                            lanes.create_task(self._run_lane(lane))
            finally:
                self._busy = False

    def _by_lane(self, messages: list[Msg]) -> list[list[Msg]]:
        """The batch split into lanes, each in stream order (empty lanes left out)."""
        lanes: list[list[Msg]] = [[] for _ in range(self.lanes)]
        for msg in messages:
            lanes[lane_of(self._entity_key(msg), self.lanes)].append(msg)
        return [lane for lane in lanes if lane]

    def _entity_key(self, msg: Msg) -> str:
        key = self._keys.get(msg.subject)
        if key is not None:
            try:
                return key(events.decode(msg.subject, msg.data))
            except DecodeError:
                pass  # undecodable: dead-lettered by its lane; any lane will do
        return msg_id_entity((msg.headers or {}).get(MSG_ID_HEADER, ""))

    async def _run_lane(self, messages: list[Msg]) -> None:
        for msg in messages:
            if self._stopping:
                return
            await self._process(msg)

    async def sample_lag(self) -> None:
        """Refresh the lag gauges from the consumer's info (common.metrics.Sampler calls this)."""
        info = await self._subscription.consumer_info()
        metrics.CONSUMER_PENDING.labels(self.durable).set(info.num_pending or 0)
        metrics.CONSUMER_ACK_PENDING.labels(self.durable).set(info.num_ack_pending or 0)

    async def _process(self, msg: Msg) -> None:
        attempt = msg.metadata.num_delivered or 1
        metrics.CONSUMER_PENDING.labels(self.durable).set(msg.metadata.num_pending or 0)
        handler = self._handlers.get(msg.subject)
        if handler is None:
            metrics.EVENTS_DELIVERED.labels(self.durable, msg.subject, "skipped").inc()
            await _ack(msg)
            self.stats.handled += 1
            return
        if attempt > 1:
            metrics.EVENTS_REDELIVERED.labels(self.durable, msg.subject).inc()
        with tracing.consume_span(msg.subject, msg.headers, self.durable, attempt):
            await self._deliver(msg, handler, attempt)

    async def _deliver(self, msg: Msg, handler: Handler[Any], attempt: int) -> None:
        try:
            message = events.decode(msg.subject, msg.data)
        except DecodeError as error:
            metrics.EVENTS_DELIVERED.labels(self.durable, msg.subject, "undecodable").inc()
            await self._dead_letter(msg, f"undecodable payload: {error}")
            return
        delivery = Delivery(msg.subject, attempt, tracing.trace_id())
        started = time.perf_counter()
        try:
            outcome = await self._handle(handler, message, delivery, msg)
        except asyncio.CancelledError:
            raise
        except PermanentFailure as error:
            self._observe(msg.subject, "failed", started)
            await self._dead_letter(msg, f"{type(error).__name__}: {error}")
            return
        except Exception as error:
            self._observe(msg.subject, "failed", started)
            self.stats.retried += 1
            delay = self._retry.delay(attempt)
            log.warning("%s: handler for %s failed (attempt %d): %s: %s; retrying in %.1f s", self.durable,
                        msg.subject, attempt, type(error).__name__, error, delay, exc_info=attempt == 1)  # fmt: skip
            await msg.nak(delay=delay)
            return
        self._observe(msg.subject, outcome.name.lower(), started)
        if outcome is Outcome.EARLY:
            self.stats.early += 1
            log.info("%s: %s arrived early (attempt %d); redelivering later", self.durable, msg.subject, attempt)
            await msg.nak(delay=self._retry.delay(attempt))
            return
        await _ack(msg)
        self.stats.handled += 1

    def _observe(self, subject: str, outcome: str, started: float) -> None:
        metrics.HANDLER_SECONDS.labels(self.durable, subject).observe(time.perf_counter() - started)
        metrics.EVENTS_DELIVERED.labels(self.durable, subject, outcome).inc()

    async def _handle(self, handler: Handler[Any], message: Message, delivery: Delivery, msg: Msg) -> Outcome:
        """Run the handler, telling the broker we are still at it, so it is not redelivered meanwhile."""

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(self._retry.ack_wait / 3)
                with contextlib.suppress(Exception):  # NATS away: at worst a redelivery, which is idempotent
                    await msg.in_progress()

        beat = asyncio.create_task(keep_alive())
        try:
            return await asyncio.wait_for(handler(message, delivery), self._retry.handler_timeout)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        meta = msg.metadata
        headers = {
            MSG_ID_HEADER: f"dl:{self.durable}:{meta.stream}:{meta.sequence.stream}",
            ORIGINAL_SUBJECT_HEADER: msg.subject,
            ERROR_HEADER: error[:500],
            **tracing.context_headers(msg.headers),
        }
        await self._bus.js.publish(f"deadletter.{self.durable}.{msg.subject}", msg.data, headers=headers, timeout=5)
        await msg.term()
        self.stats.dead_lettered += 1
        metrics.DEAD_LETTERS.labels(self.durable, msg.subject).inc()
        log.error("%s: %s moved to dead letters: %s", self.durable, msg.subject, error)


async def _ack(msg: Msg) -> None:
    """Ack without waiting for the broker's confirmation (no round trip per event). An ack lost on the way (NATS
    reconnecting, the process stopping) only means a redelivery, which the handlers' idempotence makes harmless."""
    try:
        await msg.ack()
    except Exception:
        log.warning("ack of %s not sent; it will be redelivered", msg.subject, exc_info=True)
