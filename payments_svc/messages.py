"""Payments as protobuf messages: the API's `Payment`, the `payment.created` event, and the order events read into
our order replica."""

from __future__ import annotations

from typing import Any

from common.timestamps import from_timestamp, to_timestamp
from payments_svc.domain import OrderStatus, PaymentRecord
from ticketstore.events.v1 import orders_pb2 as order_events
from ticketstore.events.v1 import payments_pb2 as payment_events
from ticketstore.payments.v1 import payments_pb2


def payment_message(payment: PaymentRecord) -> payments_pb2.Payment:
    return payments_pb2.Payment(
        id=payment.id,
        order_id=payment.order_id,
        stripe_id=payment.stripe_id,
        amount_cents=payment.amount_cents,
        create_time=to_timestamp(payment.created_at),
    )


def created_event(payment: PaymentRecord) -> payment_events.PaymentCreated:
    return payment_events.PaymentCreated(
        payment_id=payment.id,
        order_id=payment.order_id,
        stripe_id=payment.stripe_id,
        amount_cents=payment.amount_cents,
        version=0,
        occur_time=to_timestamp(payment.created_at),
    )


def order_fields(message: order_events.OrderCreated) -> dict[str, Any]:
    """What our order replica keeps of a new order."""
    return {
        "user_id": message.user_id,
        "ticket_id": message.ticket_id,
        "price_cents": message.price_cents,
        "expires_at": from_timestamp(message.expire_time),
        "status": OrderStatus.CREATED.value,
    }
