"""Background tasks are supervised: one that dies is restarted, and gRPC health says NOT_SERVING meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import events
from common.bus import Delivery, EventBus, Handlers, Outcome, RetryPolicy
from common.errors import PermanentFailure
from common.runtime import Runtime
from common.settings import ServiceSettings
from common.supervisor import Backoff, Supervisor
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.servers import RunningServer
from ticketstore.events.v1 import expiration_pb2

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
QUICK = Backoff(first=0.2, cap=1.0, settle=0.5)


async def test_a_task_that_dies_is_restarted_and_health_follows() -> None:
    runs = 0
    release = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise ConnectionError("NATS reconnecting")
        await release.wait()

    seen: list[bool] = []

    async def listener(healthy: bool) -> None:
        seen.append(healthy)

    supervisor = Supervisor(QUICK)
    supervisor.on_health(listener)
    task = supervisor.spawn("flaky", flaky)
    await eventually(lambda: _true(runs == 3), "third run")
    assert not supervisor.healthy  # restarted, but not yet settled
    await eventually(lambda: _true(supervisor.healthy), "healthy after it settled")
    assert seen == [False, True]
    assert supervisor.restarts["flaky"] == 2
    release.set()
    await task  # a task that returns is done: not restarted
    assert runs == 3


async def _true(value: bool) -> bool:
    return value


async def _health(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        return int(reply.status)


def _status_is(target: str, status: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return await _health(target) == status

    return probe


async def test_a_consumer_whose_dead_letter_publish_fails_is_restarted_and_health_says_so(
    nats_server: RunningServer, jwt_keys: JwtKeys, bus: EventBus
) -> None:
    settings = ServiceSettings(
        environment="test", grpc_port=0, nats_url=nats_server.admin_url, jwt_public_key_file=jwt_keys.public_key_file
    )
    runtime = Runtime("svc", settings, backoff=QUICK)
    calls: list[int] = []

    async def poison(message: expiration_pb2.ExpirationComplete, delivery: Delivery) -> Outcome:
        calls.append(delivery.attempt)
        raise PermanentFailure("fails validation")

    runtime.serve(lambda server: None, [])
    runtime.listen(Handlers().on(events.EXPIRATION_COMPLETE, poison), RetryPolicy(ack_wait=1.0))
    await runtime.start()
    try:
        target = runtime.server.target
        assert await _health(target) == SERVING
        # The dead-letter stream is gone (an operator's mistake, a JetStream hiccup): the dead-letter publish fails.
        await bus.js.delete_stream(events.DEAD_LETTERS.name)
        await bus.publish(events.EXPIRATION_COMPLETE, expiration_pb2.ExpirationComplete(order_id="o1"), "o1")
        await eventually(_status_is(target, NOT_SERVING), "NOT_SERVING while the consumer is down")
        assert runtime.supervisor.restarts[runtime.consumers[0].name] >= 1
        await bus.ensure_streams()  # back: the restarted consumer gets the message again and dead-letters it
        dead = await bus.js.pull_subscribe("deadletter.>", durable="inspect", stream="DEADLETTERS")
        letters = await dead.fetch(1, timeout=15)
        assert letters[0].subject == "deadletter.svc.expiration.complete"
        await eventually(_status_is(target, SERVING), "SERVING once the consumer runs again")
        assert len(calls) >= 2  # handled again after the restart: nothing was lost with the dead task
    finally:
        await runtime.stop()
