"""What a backend service process runs, wired once: MongoDB, the event bus, the outbox relay, event consumers
and the gRPC server, started in dependency order and stopped in reverse (gRPC health flips to NOT_SERVING first).
Background tasks (consumers, the relay, a service's own loops via `supervisor`) run under one `Supervisor`:
restarted with backoff when they die, and gRPC health says NOT_SERVING while one is down.

A service's `app.py` builds a `Runtime`, adds its servicer (`serve`), its event handlers (`listen`) and set-up steps
(`on_start`, e.g. indexes), and that is all the plumbing it has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

import grpc
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from common import events, metrics, mongo
from common.bus import Consumer, EventBus, Handlers, RetryPolicy
from common.grpc_server import GrpcServer
from common.mongo import Document
from common.outbox import Outbox
from common.revocations import Revocations
from common.settings import MongoSettings, ServiceSettings
from common.supervisor import Backoff, Supervisor
from common.tokens import TokenVerifier, load_verifier

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self, name: str, settings: ServiceSettings, *, use_bus: bool = True, backoff: Backoff | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self.verifier: TokenVerifier = load_verifier(settings.jwt_public_key_file, is_prod=settings.is_prod)
        self._use_bus = use_bus
        # Checked here, so a prod process without its NATS password stops at start-up with a clear message.
        self._nats_credentials = settings.nats_credentials() if use_bus else (None, None)
        self._mongo: AsyncMongoClient[Document] | None = None
        if isinstance(settings, MongoSettings):
            self._mongo = mongo.connect(settings.mongo_url, name, settings.mongo_timeout_seconds)
        self._bus: EventBus | None = None
        self._outbox: Outbox | None = None
        self.revocations = Revocations()
        self._server: GrpcServer | None = None
        self._listeners: list[tuple[str, Handlers, RetryPolicy | None, bool]] = []
        self._consumers: list[Consumer] = []
        self._start_hooks: list[Callable[[], Awaitable[None]]] = []
        self._stop_hooks: list[Callable[[], Awaitable[None]]] = []
        # Sampled gauges: consumer lag, outbox backlog, and what a service adds (e.g. pending timers).
        self.sampler = metrics.Sampler()
        self.sampler.add(self._sample)
        self._started = False
        self.supervisor = Supervisor(backoff)
        self.supervisor.on_health(self._tasks_health)

    # --- parts ---

    @property
    def mongo(self) -> AsyncMongoClient[Document]:
        if self._mongo is None:
            raise RuntimeError(f"{self.name} has no MongoDB settings")
        return self._mongo

    @property
    def db(self) -> AsyncDatabase[Document]:
        assert isinstance(self.settings, MongoSettings)
        return self.mongo[self.settings.mongo_db]

    @property
    def bus(self) -> EventBus:
        if self._bus is None:
            raise RuntimeError("the event bus is connected by start()")
        return self._bus

    @property
    def outbox(self) -> Outbox:
        """The outbox of this service's database. Usable once `start()` connected the bus."""
        if self._outbox is None:
            raise RuntimeError("the outbox exists once start() connected the bus")
        return self._outbox

    @property
    def server(self) -> GrpcServer:
        if self._server is None:
            raise RuntimeError("call serve() first")
        return self._server

    # --- wiring ---

    def serve(self, register: Callable[[grpc.aio.Server], None], service_names: Sequence[str]) -> None:
        self._server = GrpcServer(
            register,
            service_names,
            self.verifier,
            self.settings.grpc_host,
            self.settings.grpc_port,
            min_ping_interval_seconds=self.settings.grpc_min_ping_interval_seconds,
        )

    def listen(self, handlers: Handlers, retry: RetryPolicy | None = None, *, transactional: bool = True) -> None:
        """Consume the streams that hold `handlers`' subjects, one durable consumer per stream named after this
        service (e.g. "order.>" of ORDERS).

        Events of different entities are handled concurrently (EVENT_LANES at a time, in order per entity) when
        that is safe: the service's database isolates transactions (a replica set), or its handlers use none
        (`transactional=False`: single-document conditional writes, atomic on every server). Otherwise one at a
        time: the embedded dev/test server (nx-27017) does not isolate concurrent transactions."""
        for stream in dict.fromkeys(events.stream_for(subject) for subject in handlers):
            (pattern,) = stream.subjects  # one pattern per stream, so one filter per durable consumer
            self._listeners.append((pattern, handlers, retry, transactional))

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._start_hooks.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._stop_hooks.append(hook)

    # --- lifecycle ---

    async def start(self) -> None:
        self._started = True
        if self._use_bus:
            user, password = self._nats_credentials
            self._bus = await EventBus.connect(
                self.settings.nats_url, self.name, self.settings.nats_stream_replicas, user=user, password=password
            )
            await self.revocations.follow(self._bus.js)  # before serving: a signed-out token is never let through
            self.verifier.revoked = self.revocations
            if self._mongo is not None:
                self._outbox = Outbox(self._mongo, self.db.name, self._bus, service=self.name)
                await self._outbox.ensure_indexes()
        for hook in self._start_hooks:
            await hook()
        if self._outbox is not None:
            self._outbox.start(self.supervisor)  # its first sweep publishes what a crash left behind
        for filter_subject, handlers, retry, transactional in self._listeners:
            lanes = await self._event_lanes(transactional)
            consumer = await self.bus.consume(self.name, filter_subject, handlers, retry, self.supervisor, lanes)
            self._consumers.append(consumer)
        self.sampler.start()
        if self._server is not None:
            await self._server.start()

    async def _event_lanes(self, transactional: bool) -> int:
        """How many entities' events a consumer handles at once (see `listen`)."""
        if not isinstance(self.settings, MongoSettings) or self._mongo is None:
            return 1
        if transactional and not await mongo.isolates_transactions(self._mongo):
            return 1
        return self.settings.event_lanes

    @property
    def consumers(self) -> list[Consumer]:
        return list(self._consumers)

    async def _tasks_health(self, healthy: bool) -> None:
        if self._server is not None:
            await self._server.set_tasks_healthy(healthy)

    async def _sample(self) -> None:
        for task, restarts in self.supervisor.restarts.items():
            metrics.TASK_RESTARTS.labels(task).set(restarts)
        for consumer in self._consumers:
            await consumer.sample_lag()
        if self._outbox is not None:
            await self._outbox.sample_backlog()

    async def stop(self) -> None:
        """Stop in reverse order. Every step runs even if an earlier one failed; a second call does nothing."""
        if not self._started:
            return
        self._started = False
        steps: list[Callable[[], Awaitable[None]]] = [self.sampler.stop]
        if self._server is not None:
            server = self._server
            steps.append(lambda: server.stop(self.settings.grace_seconds))
        consumers, self._consumers = self._consumers, []
        steps.append(lambda: _gather(consumer.stop() for consumer in consumers))
        steps.extend(reversed(self._stop_hooks))
        if self._outbox is not None:
            steps.append(self._outbox.stop)
        steps.append(self.revocations.stop)
        if self._bus is not None:
            steps.append(self._bus.close)
        if self._mongo is not None:
            steps.append(self._mongo.close)
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("%s: a stop step failed; carrying on", self.name)


async def _gather(awaitables: Iterable[Awaitable[None]]) -> None:
    await asyncio.gather(*awaitables)


class RuntimeApp:
    """Base of every backend service's app: its `Runtime` started and stopped, and its gRPC address."""

    runtime: Runtime

    @property
    def target(self) -> str:
        """ "127.0.0.1:<port>" of the running gRPC server (port 0 in settings picks a free one)."""
        return self.runtime.server.target

    async def start(self) -> None:
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()
