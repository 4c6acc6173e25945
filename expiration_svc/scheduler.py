"""The scheduler: claims due timers from Redis under a lease, announces `expiration.complete` for each, then
acknowledges them. Any number of replicas run it at once against one Redis.

- Atomic claim (one Lua script): two replicas never take the same timer at the same time, so each timer is
  announced once in the normal case.
- Leased claim: a replica that dies between claim and acknowledgement leaves its timers in `claimed`; they are
  claimed again once the lease runs out, so a timer is announced at least once, always.
- The announcement's `Nats-Msg-Id` is `expiration.complete:<order id>`: should a timer still be announced twice
  (a lease ran out mid-publish), the broker drops the repeat within its duplicate window, and orders_svc treats
  the event idempotently anyway.
- No busy loop: between claims it sleeps until the next due time (a timer or a lease end) or one poll interval,
  whichever comes first, and wakes early when this process adds a timer that is due sooner than its plan. It never
  claims more often than once a `tick` (unless a claim came back full): timers due within one tick go out together,
  so 1,000 timers due per second cost ~100 claims a second, not 1,000, for at most one tick of lateness.
- One batch per claim: every announcement of a claim is published at once and the acks are awaited together
  (expiration_svc.announce); the timers acknowledged are deleted in one script, the others given back for a retry.

Expiration has no database to put an outbox in: the `claimed` set plays that role (an announcement is deleted
only after the broker acknowledged it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence

from common import events, metrics
from common.clock import Clock
from common.supervisor import Supervisor
from expiration_svc import messages
from expiration_svc.domain import Claim, now_ms, seconds_to_ms, wake_delay
from expiration_svc.store import TimerStore

log = logging.getLogger(__name__)

# Publishes (payload, msg id) pairs on a subject as one batch; per message None once acknowledged, else the error.
PublishBatch = Callable[[str, Sequence[tuple[bytes, str]]], Awaitable[Sequence[BaseException | None]]]
MAX_ERROR_BACKOFF = 5.0


class Scheduler:
    def __init__(
        self,
        store: TimerStore,
        publish: PublishBatch,
        clock: Clock,
        *,
        poll_interval: float = 0.25,
        tick: float = 0.01,
        lease: float = 30.0,
        batch_size: int = 500,
        tombstone: float = 86_400.0,
        retry_delay: float = 1.0,
        supervisor: Supervisor | None = None,
    ) -> None:
        self._store = store
        self._supervisor = supervisor or Supervisor()
        self._publish = publish
        self._clock = clock
        self._poll_interval = poll_interval
        self._tick = tick
        self._lease_ms = seconds_to_ms(lease)
        self._batch_size = batch_size
        self._tombstone_ms = seconds_to_ms(tombstone)
        self._retry_ms = seconds_to_ms(retry_delay)
        self._wake = asyncio.Event()
        self._planned_wake = math.inf  # clock ms of the next planned claim; inf while a cycle runs
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._in_flight: Claim | None = None
        # Observability (and what tests assert on): announcements this replica published, claim cycles run.
        self.published = 0
        self.publish_failures = 0
        self.cycles = 0

    # --- timers ---

    async def add(self, order_id: str, due: int) -> bool:
        """Start the timer of an order (due: epoch ms). False when it already exists or the order is closed."""
        added = await self._store.add(order_id, due)
        if added and due < self._planned_wake:
            self._wake.set()
        return added

    async def add_many(self, timers: Sequence[tuple[str, int]]) -> int:
        added = await self._store.add_many(timers)
        if added and min(due for _, due in timers) < self._planned_wake:
            self._wake.set()
        return added

    async def drop(self, order_id: str) -> bool:
        """Stop the timer of an order that was paid or cancelled."""
        return await self._store.drop(order_id, self._now_ms())

    def wake(self) -> None:
        """Claim now instead of at the planned time (e.g. after a test moved its clock)."""
        self._wake.set()

    # --- lifecycle ---

    def start(self) -> None:
        self._stopping = False
        self._task = self._supervisor.spawn("expiration-scheduler", self._run)

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish the batch in hand (within `timeout`), then stop. Timers claimed but not announced by then are
        given back at once, so another replica (or the next start) fires them without waiting for the lease."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        claim, self._in_flight = self._in_flight, None
        if claim is not None:
            try:
                await self._store.reschedule(claim.lease_until, claim.order_ids, self._now_ms())
            except Exception:  # noqa: BLE001 (whatever failed, the lease runs out instead)
                log.warning("could not give back %d claimed timers; they fire after the lease", len(claim.order_ids))

    # --- the loop ---

    async def run_once(self) -> Claim:
        """One cycle: claim what is due and announce it. Returns the claim (what was taken, what comes next)."""
        now = self._now_ms()
        claim = await self._store.claim(
            now, now + self._lease_ms, self._batch_size, forget_closed_before=now - self._tombstone_ms
        )
        self.cycles += 1
        if claim.order_ids:
            self._in_flight = claim  # given back by stop() should the loop be cancelled while announcing
            try:
                await self._fire(claim)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._in_flight = None  # what is left stays leased and is claimed again after the lease
                raise
            self._in_flight = None
        return claim

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            self._planned_wake = math.inf  # an add() during this cycle wakes the next sleep at once
            try:
                claim = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = min(MAX_ERROR_BACKOFF, self._poll_interval * 2 ** min(failures, 10))
                log.warning("claiming due timers failed (%d in a row); retrying in %.2f s", failures, delay,
                            exc_info=failures == 1)  # fmt: skip
                await self._sleep(delay, self._now_ms())
                continue
            if failures:
                log.info("claiming due timers works again after %d failures", failures)
                failures = 0
            if len(claim.order_ids) == self._batch_size:
                continue  # there may be more due right now
            now = self._now_ms()
            await self._sleep(wake_delay(now, claim.next_due, self._poll_interval, self._tick), now)

    def _now_ms(self) -> int:
        return now_ms(self._clock().timestamp())

    async def _sleep(self, seconds: float, now: int) -> None:
        if self._stopping:
            return
        self._planned_wake = now + seconds * 1000
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _fire(self, claim: Claim) -> None:
        at = self._clock()
        subject = events.EXPIRATION_COMPLETE
        batch = [(messages.expiration_complete(order_id, at).SerializeToString(), events.msg_id(subject, order_id))
                 for order_id in claim.order_ids]  # fmt: skip
        results = await self._publish(subject, batch)
        done = [order_id for order_id, r in zip(claim.order_ids, results, strict=True) if r is None]
        failed = [order_id for order_id, r in zip(claim.order_ids, results, strict=True) if r is not None]
        now = self._now_ms()
        if done:
            await self._store.ack(claim.lease_until, done, now)
            self.published += len(done)
            metrics.TIMERS_FIRED.inc(len(done))
        if failed:
            self.publish_failures += len(failed)
            error = next(r for r in results if r is not None)
            log.warning("announcing %d expirations failed (%s); retrying in %d ms", len(failed), error, self._retry_ms)
            await self._store.reschedule(claim.lease_until, failed, now + self._retry_ms)
