"""Wiring: the one place where orders_svc's parts are built and connected."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from common.bus import RetryPolicy
from common.clock import Clock, SystemClock
from common.runtime import Runtime, RuntimeApp
from orders_svc.listeners import Listeners
from orders_svc.operations import Orders
from orders_svc.servicer import OrdersServicer
from orders_svc.settings import OrdersSettings
from orders_svc.store import OrderStore
from ticketstore.orders.v1 import orders_pb2, orders_pb2_grpc

log = logging.getLogger(__name__)
SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name


class OrdersApp(RuntimeApp):
    """`retry` sets the consumers' redelivery policy (tests make EARLY redelivery fast); `clock` is "now"."""

    def __init__(
        self, settings: OrdersSettings, *, retry: RetryPolicy | None = None, clock: Clock | None = None
    ) -> None:
        self.runtime = Runtime("orders_svc", settings)
        self.store = OrderStore(self.runtime.mongo, settings.mongo_db, lambda: self.runtime.outbox)
        self.orders = Orders(
            self.store,
            clock or SystemClock(),
            dt.timedelta(seconds=settings.order_expiration_seconds),
            settings.ticket_arrival_wait_seconds,
            settings.max_active_orders_per_buyer,
        )
        servicer = OrdersServicer(self.orders)
        self.runtime.serve(
            lambda server: orders_pb2_grpc.add_OrdersServiceServicer_to_server(servicer, server), [SERVICE_NAME]
        )
        self.runtime.listen(Listeners(self.orders).handlers(), retry)
        self.runtime.on_start(self.store.ensure_indexes)
        self._settings = settings
        self._sweeper: asyncio.Task[None] | None = None
        self.runtime.on_start(self._start_sweep)
        self.runtime.on_stop(self._stop_sweep)

    async def _start_sweep(self) -> None:
        self._sweeper = self.runtime.supervisor.spawn("order-sweep", self._sweep_forever)

    async def _stop_sweep(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep_forever(self) -> None:
        grace = dt.timedelta(seconds=self._settings.sweep_grace_seconds)
        while True:
            await asyncio.sleep(self._settings.sweep_interval_seconds)
            try:
                await self.orders.sweep(grace)
            except Exception:  # MongoDB away: the next round tries again
                log.warning("the order sweep failed; retrying in %.0f s", self._settings.sweep_interval_seconds,
                            exc_info=True)  # fmt: skip
