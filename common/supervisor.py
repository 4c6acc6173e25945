"""Supervision of a process's background tasks (event consumers, the outbox relay, expiration's scheduler).

A supervised task runs until it is cancelled or returns (components return only when asked to stop). If it raises
(e.g. a dead-letter publish while NATS reconnects), it is restarted after a capped exponential backoff, and the
process reports itself unhealthy from the failure until the restarted task has run `settle` seconds without
failing. The runtime turns that into gRPC health (NOT_SERVING / SERVING), so a pod whose task cannot recover fails
its probes and is restarted by Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

HealthListener = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    first: float = 0.5
    cap: float = 30.0
    settle: float = 2.0  # a restarted task counts as up again once it ran this long without failing

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.first * 2 ** (failures - 1)))


class Supervisor:
    def __init__(self, backoff: Backoff | None = None) -> None:
        self._backoff = backoff or Backoff()
        self._down: set[str] = set()
        self._listeners: list[HealthListener] = []
        # Hook for metrics: how often each task was restarted.
        self.restarts: Counter[str] = Counter()

    @property
    def healthy(self) -> bool:
        return not self._down

    @property
    def down(self) -> frozenset[str]:
        return frozenset(self._down)

    def on_health(self, listener: HealthListener) -> None:
        """`listener(healthy)` is awaited whenever the process turns unhealthy or healthy again."""
        self._listeners.append(listener)

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run `run()` under supervision. Cancelling the returned task stops it (and its supervision)."""
        return asyncio.create_task(self._keep(name, run), name=f"supervised:{name}")

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        try:
            while True:
                child: asyncio.Task[None] = asyncio.ensure_future(run())
                try:
                    if name in self._down:
                        done, _ = await asyncio.wait({child}, timeout=self._backoff.settle)
                        if not done:
                            failures = 0
                            await self._mark(name, up=True)
                            log.info("%s runs again after a restart", name)
                    await child
                    return
                except asyncio.CancelledError:
                    child.cancel()
                    with contextlib.suppress(BaseException):
                        await child
                    raise
                except Exception:
                    failures += 1
                    self.restarts[name] += 1
                    delay = self._backoff.delay(failures)
                    log.exception("%s died (%d in a row); restarting in %.1f s", name, failures, delay)
                    await self._mark(name, up=False)
                    await asyncio.sleep(delay)
        finally:
            if name in self._down:  # stopped while down: it no longer counts against health
                self._down.discard(name)
                with contextlib.suppress(Exception):
                    await self._notify()

    async def _mark(self, name: str, *, up: bool) -> None:
        was_healthy = self.healthy
        if up:
            self._down.discard(name)
        else:
            self._down.add(name)
        if self.healthy != was_healthy:
            await self._notify()

    async def _notify(self) -> None:
        for listener in self._listeners:
            try:
                await listener(self.healthy)
            except Exception:  # reporting health must never take a task down with it
                log.exception("health listener failed")
