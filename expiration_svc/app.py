"""Wiring: the one place where expiration_svc's parts are built and connected."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from common import metrics
from common.bus import RetryPolicy
from common.clock import Clock, SystemClock
from common.runtime import Runtime, RuntimeApp
from expiration_svc.announce import publish_batch
from expiration_svc.domain import now_ms, seconds_to_ms
from expiration_svc.listeners import Listeners
from expiration_svc.operations import Timers
from expiration_svc.scheduler import Scheduler
from expiration_svc.settings import ExpirationSettings
from expiration_svc.store import TimerStore

log = logging.getLogger(__name__)


def connect_redis(url: str) -> Redis:
    """A client that reconnects by itself (a Redis restart costs a few failed calls, no lost state)."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=10,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=3),
    )


class ExpirationApp(RuntimeApp):
    def __init__(
        self, settings: ExpirationSettings, *, retry: RetryPolicy | None = None, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.runtime = Runtime("expiration_svc", settings)
        self.redis = connect_redis(settings.redis_url)
        self.store = TimerStore(self.redis, settings.redis_prefix)
        self.clock = clock or SystemClock()
        self.scheduler = Scheduler(
            self.store,
            self._publish,
            self.clock,
            poll_interval=settings.poll_interval_seconds,
            tick=settings.tick_seconds,
            lease=settings.lease_seconds,
            batch_size=settings.batch_size,
            tombstone=settings.tombstone_seconds,
            retry_delay=settings.retry_seconds,
            supervisor=self.runtime.supervisor,
        )
        # No API of its own: the gRPC server carries health checking and reflection, for probes and tooling.
        self.runtime.serve(lambda _server: None, [])
        self.runtime.listen(Listeners(Timers(self.scheduler)).handlers(), retry)
        self.runtime.on_start(self._start_scheduler)
        self.runtime.on_stop(self.redis.aclose)
        self.runtime.on_stop(self._stop_scheduler)
        self.runtime.sampler.add(self._sample_timers)

    async def _publish(self, subject: str, batch: Sequence[tuple[bytes, str]]) -> list[BaseException | None]:
        return await publish_batch(self.runtime.bus.js, subject, batch)

    async def _sample_timers(self) -> None:
        pending, claimed = await self.store.counts()
        metrics.TIMERS_PENDING.set(pending + claimed)
        overdue_before = now_ms(self.clock().timestamp()) - seconds_to_ms(metrics.OVERDUE_MARGIN_SECONDS)
        metrics.TIMERS_OVERDUE.set(await self.store.overdue(overdue_before))

    async def _start_scheduler(self) -> None:
        try:
            await self.redis.ping()
        except RedisError:  # not fatal: the scheduler and the listeners retry until Redis is back
            log.warning("Redis at %s does not answer yet", self.settings.redis_url, exc_info=True)
        self.scheduler.start()

    async def _stop_scheduler(self) -> None:
        await self.scheduler.stop(self.settings.grace_seconds)
