"""Wiring: the one place where payments_svc's parts are built and connected."""

from __future__ import annotations

from common.bus import RetryPolicy
from common.clock import Clock, SystemClock
from common.runtime import Runtime, RuntimeApp
from payments_svc.listeners import Listeners
from payments_svc.operations import Payments
from payments_svc.servicer import PaymentsServicer
from payments_svc.settings import PaymentsSettings
from payments_svc.store import PaymentsStore
from payments_svc.stripe_gateway import StripeGateway
from ticketstore.payments.v1 import payments_pb2, payments_pb2_grpc

SERVICE_NAME = payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"].full_name


class PaymentsApp(RuntimeApp):
    """payments_svc. `stripe` replaces the gateway built from settings (the app closes it on stop)."""

    def __init__(
        self,
        settings: PaymentsSettings,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        stripe: StripeGateway | None = None,
    ) -> None:
        self.runtime = Runtime("payments_svc", settings)
        self.store = PaymentsStore(self.runtime.mongo, settings.mongo_db, lambda: self.runtime.outbox)
        self.stripe = stripe or StripeGateway.from_settings(settings)
        payments = Payments(
            self.store,
            self.stripe,
            clock or SystemClock(),
            lease_seconds=settings.payment_lease_seconds,
            lease_wait_seconds=settings.payment_lease_wait_seconds,
            refund_lease_wait_seconds=settings.refund_lease_wait_seconds,
            order_arrival_wait_seconds=settings.order_arrival_wait_seconds,
            verdict_wait_seconds=settings.payment_verdict_wait_seconds,
        )
        servicer = PaymentsServicer(payments)
        self.runtime.serve(
            lambda server: payments_pb2_grpc.add_PaymentsServiceServicer_to_server(servicer, server), [SERVICE_NAME]
        )
        self.runtime.listen(Listeners(payments).handlers(), retry)
        self.runtime.on_start(self.store.ensure_indexes)
        self.runtime.on_stop(self.stripe.close)
