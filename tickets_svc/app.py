"""Wiring: the one place where tickets_svc's parts are built and connected."""

from __future__ import annotations

from common.bus import RetryPolicy
from common.clock import Clock, SystemClock
from common.runtime import Runtime, RuntimeApp
from tickets_svc.listeners import Listeners
from tickets_svc.operations import Tickets
from tickets_svc.servicer import TicketsServicer
from tickets_svc.settings import TicketsSettings
from tickets_svc.store import TicketStore
from ticketstore.tickets.v1 import tickets_pb2, tickets_pb2_grpc

SERVICE_NAME = tickets_pb2.DESCRIPTOR.services_by_name["TicketsService"].full_name


class TicketsApp(RuntimeApp):
    """`retry` sets the consumer's redelivery policy (tests make EARLY redelivery fast); `clock` is "now"."""

    def __init__(
        self, settings: TicketsSettings, *, retry: RetryPolicy | None = None, clock: Clock | None = None
    ) -> None:
        self.runtime = Runtime("tickets_svc", settings)
        runtime = self.runtime
        self.store = TicketStore(runtime.mongo, settings.mongo_db, lambda: runtime.bus, runtime.name)
        tickets = Tickets(self.store, clock or SystemClock())
        servicer = TicketsServicer(tickets)
        runtime.serve(
            lambda server: tickets_pb2_grpc.add_TicketsServiceServicer_to_server(servicer, server), [SERVICE_NAME]
        )
        # Its handlers use no transaction (one conditional write each), so tickets are handled concurrently.
        runtime.listen(Listeners(tickets).handlers(), retry, transactional=False)
        runtime.on_start(self.store.ensure_indexes)
        runtime.on_start(self._start_relay)
        runtime.on_stop(self.store.outbox.stop)
        runtime.sampler.add(self.store.outbox.sample_backlog)

    async def _start_relay(self) -> None:
        self.store.outbox.start(self.runtime.supervisor)  # its first sweep publishes what a crash left behind
