"""The PaymentsService gRPC API."""

from __future__ import annotations

from typing import Any

import grpc

from common.grpc_edge import require_caller
from payments_svc.messages import payment_message
from payments_svc.operations import Payments
from ticketstore.payments.v1 import payments_pb2, payments_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(self, payments: Payments) -> None:
        self._payments = payments

    async def CreatePayment(
        self, request: payments_pb2.CreatePaymentRequest, context: Context
    ) -> payments_pb2.CreatePaymentResponse:
        caller = require_caller()
        payment = await self._payments.pay(caller.user_id, request.order_id, request.payment_method)
        return payments_pb2.CreatePaymentResponse(payment=payment_message(payment))

    async def GetPayment(
        self, request: payments_pb2.GetPaymentRequest, context: Context
    ) -> payments_pb2.GetPaymentResponse:
        caller = require_caller()
        payment = await self._payments.payment_for(caller.user_id, request.order_id)
        return payments_pb2.GetPaymentResponse(payment=payment_message(payment))
