"""The use cases of expiration_svc, one per event: an order's timer starts with the order and stops when the
order is paid or cancelled. Timers that come due are announced by the scheduler (scheduler.py)."""

from __future__ import annotations

import logging

from common.bus import Outcome
from expiration_svc.scheduler import Scheduler

log = logging.getLogger(__name__)


class Timers:
    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def start(self, order_id: str, due: int) -> Outcome:
        """Start the order's timer, due at `due` (epoch ms); a duplicate collapses into the one timer, and an order
        already closed cannot start it again."""
        added = await self._scheduler.add(order_id, due)
        return Outcome.APPLIED if added else Outcome.DUPLICATE

    async def stop(self, order_id: str) -> Outcome:
        """The order was paid or cancelled: drop its timer and remember the order as closed."""
        dropped = await self._scheduler.drop(order_id)
        log.debug("order %s closed: timer %s", order_id, "dropped" if dropped else "absent")
        return Outcome.APPLIED
