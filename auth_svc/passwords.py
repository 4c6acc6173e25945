"""argon2id password hashing, run off the event loop (it is deliberately slow) and bounded.

Each hash holds `memory_kib` of memory while it runs, so at most `concurrency` run at once: a flood of sign-ins
waits for a slot for up to `queue_seconds`, then is refused (RateLimited) instead of exhausting the pod's memory.
Worst case memory = concurrency x memory (a hash made with older, costlier parameters is verified with its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from common.errors import RateLimited

T = TypeVar("T")
BUSY = "too many sign-ins at once; try again shortly"


@dataclass(frozen=True)
class HashingLimits:
    concurrency: int = 4
    queue_seconds: float = 2.0
    # OWASP's argon2id minimum (19 MiB, 2 passes): 4 at once stay far under auth's 512 MiB limit.
    memory_kib: int = 19_456
    time_cost: int = 2


class Passwords:
    def __init__(self, limits: HashingLimits | None = None) -> None:
        self.limits = limits or HashingLimits()
        self._hasher = PasswordHasher(
            time_cost=self.limits.time_cost, memory_cost=self.limits.memory_kib, parallelism=1
        )
        self._slots = asyncio.Semaphore(self.limits.concurrency)
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches. With no stored hash (unknown email) a decoy is checked,
        so an unknown email costs the same time as a wrong password."""
        if stored_hash is None:
            if self._decoy is None:
                self._decoy = await self.hash("decoy-password-never-matches")
            stored_hash = self._decoy
            password = password + "\x00never"
        try:
            return await self._bounded(self._hasher.verify, stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _bounded(self, work: Callable[..., T], *args: str) -> T:
        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.queue_seconds)
        except TimeoutError:
            raise RateLimited(BUSY, retry_after_seconds=1) from None
        # The slot is freed when the thread ends, not when the caller does: a cancelled call's hash still runs.
        running = asyncio.ensure_future(asyncio.to_thread(work, *args))
        running.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(running)
