"""The PaymentsService gRPC API."""

from __future__ import annotations

from typing import Any

import grpc

from common.errors import NotFound
from common.grpc_edge import require_caller
from common.timestamps import to_timestamp
from payments_svc import domain
from payments_svc.processor import PaymentProcessor
from payments_svc.store import PaymentRecord, PaymentsStore
from ticketstore.payments.v1 import payments_pb2, payments_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


def payment_message(payment: PaymentRecord) -> payments_pb2.Payment:
    return payments_pb2.Payment(
        id=payment.id,
        order_id=payment.order_id,
        stripe_id=payment.stripe_id,
        amount_cents=payment.amount_cents,
        create_time=to_timestamp(payment.created_at),
    )


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(self, store: PaymentsStore, processor: PaymentProcessor) -> None:
        self._store = store
        self._processor = processor

    async def CreatePayment(
        self, request: payments_pb2.CreatePaymentRequest, context: Context
    ) -> payments_pb2.CreatePaymentResponse:
        caller = require_caller()
        pay = domain.validate_pay(request.order_id, request.payment_method)
        payment = await self._processor.pay(caller.user_id, pay.order_id, pay.payment_method)
        return payments_pb2.CreatePaymentResponse(payment=payment_message(payment))

    async def GetPayment(
        self, request: payments_pb2.GetPaymentRequest, context: Context
    ) -> payments_pb2.GetPaymentResponse:
        caller = require_caller()
        order_id = domain.validate_order_id(request.order_id)
        order = await self._store.order(order_id)
        if order is None:
            raise NotFound("order not found")
        domain.check_buyer(order, caller.user_id)
        payment = await self._store.payment_by_order(order_id)
        if payment is None:
            raise NotFound("this order has no payment")
        return payments_pb2.GetPaymentResponse(payment=payment_message(payment))
