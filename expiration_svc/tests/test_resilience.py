"""No timer is lost: the service killed and restarted, Redis killed and restarted, a replica dying mid-claim,
two replicas racing for the same timers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.bus import EventBus
from common.clock import ManualClock
from common.settings import REPO_ROOT
from common.testing.plugin import JwtKeys
from common.testing.poll import eventually
from common.testing.servers import RunningServer, restart
from expiration_svc.domain import now_ms
from expiration_svc.scheduler import Scheduler
from expiration_svc.settings import ExpirationSettings
from expiration_svc.store import TimerStore
from expiration_svc.tests.helpers import (
    Expirations,
    StartApp,
    orders_consumed,
    publish_created,
)

WINDOW = 900.0


async def test_killing_the_service_and_starting_it_again_loses_no_timer(
    settings: ExpirationSettings,
    jwt_keys: JwtKeys,
    start_app: StartApp,
    bus: EventBus,
    expirations: Expirations,
    store: TimerStore,
    tmp_path: Path,
) -> None:
    # The real process (`python -m expiration_svc`, real clock), killed with SIGKILL: no graceful anything.
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "GRPC_PORT": "0",
        "NATS_URL": settings.nats_url,
        "REDIS_URL": settings.redis_url,
        "JWT_PUBLIC_KEY_FILE": str(jwt_keys.public_key_file),
        "LOG_LEVEL": "WARNING",
    }
    log_path = tmp_path / "expiration_svc.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "expiration_svc", cwd=REPO_ROOT,
                                                       env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        expire_at = time.time() + 120  # due long after the kill
        before = [f"before-{i}" for i in range(20)]
        for order_id in before:
            await publish_created(bus, order_id, expire_at)

        async def stored_by_the_process() -> bool:
            assert process.returncode is None, log_path.read_text()
            return await store.counts() == (len(before), 0)

        await eventually(stored_by_the_process, what="the service stored the timers")
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == -signal.SIGKILL
    assert await store.counts() == (len(before), 0)
    # Orders created while it is down wait in its durable consumer.
    during = [f"during-{i}" for i in range(5)]
    for order_id in during:
        await publish_created(bus, order_id, expire_at)

    clock = ManualClock(start=expire_at + 1)  # the restarted service finds every window closed
    await start_app(use_clock=clock)
    received = await expirations.collect(len(before) + len(during))
    assert sorted(received) == sorted(before + during)
    await eventually(lambda: _counts_are(store, (0, 0)))
    assert await expirations.stream_count() == len(before) + len(during)


async def test_killing_redis_and_starting_it_again_loses_no_timer(
    redis_server: RunningServer,
    start_app: StartApp,
    clock: ManualClock,
    bus: EventBus,
    expirations: Expirations,
    store: TimerStore,
) -> None:
    app = await start_app()
    expire_at = clock.now() + WINDOW
    direct = [(f"direct-{i}", now_ms(expire_at) + i) for i in range(500)]
    await app.scheduler.add_many(direct)
    for i in range(5):
        await publish_created(bus, f"event-{i}", expire_at)
    await eventually(lambda: orders_consumed(bus))
    assert await store.counts() == (505, 0)

    redis_server.kill()  # SIGKILL: only what the append-only file holds comes back
    # Orders created while Redis is down: the listener fails, the event is redelivered until Redis is back.
    for i in range(3):
        await publish_created(bus, f"outage-{i}", expire_at)
    await eventually(lambda: _handler_failed(bus), what="a handler saw Redis down")
    revived = restart(redis_server)
    try:
        await eventually(lambda: orders_consumed(bus), what="events of the outage applied after Redis came back")
        assert await store.counts() == (508, 0)
        clock.advance(WINDOW + 10)
        app.scheduler.wake()
        received = await expirations.collect(508)
        expected = {o for o, _ in direct} | {f"event-{i}" for i in range(5)} | {f"outage-{i}" for i in range(3)}
        assert set(received) == expected
        assert len(received) == 508
        await eventually(lambda: _counts_are(store, (0, 0)))
    finally:
        await app.stop()  # before its Redis goes away for good
        revived.stop()


async def test_a_claim_whose_replica_died_fires_after_the_lease_runs_out(
    start_app: StartApp, clock: ManualClock, expirations: Expirations, store: TimerStore
) -> None:
    app = await start_app(lease_seconds=30)
    due = now_ms(clock.now()) + 10_000
    orders = [f"o{i}" for i in range(5)]
    await store.add_many([(o, due) for o in orders])
    # A replica claims them at their due time, then dies before announcing or acknowledging anything.
    dead = await store.claim(due, due + 30_000, 100, 0)
    assert sorted(dead.order_ids) == orders
    clock.set((due + 29_000) / 1000)  # lease still running: nobody else may fire them
    cycles = app.scheduler.cycles
    app.scheduler.wake()
    await eventually(lambda: _cycles_past(app.scheduler, cycles + 2), what="two claim cycles")
    assert app.scheduler.published == 0
    assert await store.counts() == (0, 5)
    clock.set((due + 30_000) / 1000)  # the lease ran out
    app.scheduler.wake()
    assert sorted(await expirations.collect(5)) == orders
    await eventually(lambda: _counts_are(store, (0, 0)))
    assert app.scheduler.published == 5
    assert await expirations.stream_count() == 5


async def test_two_replicas_fire_each_timer_once(
    start_app: StartApp, clock: ManualClock, expirations: Expirations, store: TimerStore
) -> None:
    # Small batches, so the two replicas really compete for the same due timers.
    replicas = [await start_app(batch_size=20), await start_app(batch_size=20)]
    count = 2_000
    now = clock.now()
    await store.add_many([(f"o{i:04d}", now_ms(now + 60) + i % 50) for i in range(count)])
    clock.advance(120)
    for replica in replicas:
        replica.scheduler.wake()
    received = await expirations.collect(count, timeout=60)
    await eventually(lambda: _counts_are(store, (0, 0)))
    per_replica = [replica.scheduler.published for replica in replicas]
    print(f"\nannouncements per replica: {per_replica}")
    assert sum(per_replica) == count  # the claim gave every timer to exactly one replica
    assert len(received) == count
    assert len(set(received)) == count
    assert await expirations.stream_count() == count


async def _counts_are(store: TimerStore, expected: tuple[int, int]) -> bool:
    return await store.counts() == expected


async def _cycles_past(scheduler: Scheduler, cycles: int) -> bool:
    if scheduler.cycles < cycles:
        scheduler.wake()
    return scheduler.cycles >= cycles


async def _handler_failed(bus: EventBus) -> bool:
    info = await bus.js.consumer_info("ORDERS", "expiration_svc")
    return bool(info.num_redelivered)


async def test_announcements_that_fail_while_nats_is_down_are_retried(
    nats_server: RunningServer, start_app: StartApp, clock: ManualClock, store: TimerStore, bus: EventBus
) -> None:
    app = await start_app(retry_seconds=0.2)
    orders = [f"o{i}" for i in range(10)]
    await store.add_many([(o, now_ms(clock.now())) for o in orders])
    nats_server.kill()
    clock.advance(1)
    app.scheduler.wake()
    await eventually(lambda: _publish_failed(app.scheduler), what="a publish failed")
    assert await store.counts() == (0, 10)  # still held: given back for a retry, not forgotten
    revived = restart(nats_server)
    try:
        clock.advance(1)
        await eventually(lambda: _counts_are(store, (0, 0)), what="announced once NATS is back")
        info = await bus.js.stream_info("EXPIRATION")
        assert info.state.messages == 10
        assert app.scheduler.published == 10
    finally:
        await app.stop()
        await bus.close()  # while its server still runs (EventBus.close() fails on a reconnecting client)
        revived.stop()


async def _publish_failed(scheduler: Scheduler) -> bool:
    return scheduler.publish_failures > 0


async def test_a_stopping_replica_gives_back_the_timers_it_could_not_announce(
    nats_server: RunningServer, start_app: StartApp, clock: ManualClock, store: TimerStore, bus: EventBus
) -> None:
    app = await start_app(retry_seconds=60)
    orders = ["o1", "o2", "o3"]
    await store.add_many([(o, now_ms(clock.now())) for o in orders])
    nats_server.kill()  # publishing now hangs until the bus times out
    clock.advance(1)
    app.scheduler.wake()
    await eventually(lambda: _counts_are(store, (0, 3)), what="claimed")
    assert await store.lease_of("o1") == now_ms(clock.now()) + 30_000
    await app.scheduler.stop(timeout=0.2)
    # Not left to the 30 s lease: claimable again right away, by any replica.
    assert await store.counts() == (0, 3)
    assert [await store.lease_of(o) for o in orders] == [now_ms(clock.now())] * 3
    assert app.scheduler.published == 0
    revived = restart(nats_server)
    try:
        app.scheduler.start()
        await eventually(lambda: _counts_are(store, (0, 0)), what="announced after the restart")
        info = await bus.js.stream_info("EXPIRATION")
        assert info.state.messages == 3
    finally:
        await app.stop()
        await bus.close()  # while its server still runs (EventBus.close() fails on a reconnecting client)
        revived.stop()
