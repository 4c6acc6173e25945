"""Orders as protobuf messages: the API's `Order`, the order events, and the ticket events read into our replica."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from common import events
from common.timestamps import to_timestamp
from orders_svc.domain import Order, OrderStatus, TicketCopy, TicketStatus
from ticketstore.events.v1 import orders_pb2 as order_events
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.orders.v1 import orders_pb2
from ticketstore.tickets.v1 import tickets_pb2 as tickets_api

STATUS = {
    OrderStatus.CREATED: orders_pb2.ORDER_STATUS_CREATED,
    OrderStatus.CANCELLED: orders_pb2.ORDER_STATUS_CANCELLED,
    OrderStatus.COMPLETE: orders_pb2.ORDER_STATUS_COMPLETE,
}


def order_message(order: Order) -> orders_pb2.Order:
    return orders_pb2.Order(
        id=order.id,
        user_id=order.user_id,
        ticket_id=order.ticket_id,
        status=STATUS[order.status],
        expire_time=to_timestamp(order.expires_at),
        price_cents=order.price_cents,
        version=order.version,
        create_time=to_timestamp(order.created_at),
    )


def order_event(order: Order) -> tuple[str, Message]:
    """The event that announces this version of `order`: its subject and payload."""
    if order.status is OrderStatus.CANCELLED:
        return events.ORDER_CANCELLED, order_events.OrderCancelled(
            order_id=order.id,
            user_id=order.user_id,
            ticket_id=order.ticket_id,
            version=order.version,
            occur_time=to_timestamp(order.updated_at),
        )
    if order.status is OrderStatus.COMPLETE:
        return events.ORDER_COMPLETED, order_events.OrderCompleted(
            order_id=order.id,
            user_id=order.user_id,
            ticket_id=order.ticket_id,
            version=order.version,
            occur_time=to_timestamp(order.updated_at),
        )
    return events.ORDER_CREATED, order_events.OrderCreated(
        order_id=order.id,
        user_id=order.user_id,
        ticket_id=order.ticket_id,
        price_cents=order.price_cents,
        expire_time=to_timestamp(order.expires_at),
        version=order.version,
        occur_time=to_timestamp(order.created_at),
    )


def _ticket_status(value: tickets_api.TicketStatus.ValueType) -> str:
    try:
        name = tickets_api.TicketStatus.Name(value)
    except ValueError:  # a status newer than our contract: never orderable
        return TicketStatus.UNKNOWN.value
    return TicketStatus.parse(name).value


def ticket_fields(message: ticket_events.TicketCreated | ticket_events.TicketUpdated, order_id: str) -> dict[str, Any]:
    """What our ticket replica keeps of a ticket event; `order_id` is the order holding it ("" for none)."""
    return {
        "title": message.title,
        "price_cents": message.price_cents,
        "seller_id": message.seller_id,
        "status": _ticket_status(message.status),
        "order_id": order_id,
    }


def ticket_copy(ticket_id: str, version: int, fields: Mapping[str, Any]) -> TicketCopy:
    """Version `version` of a ticket as `fields` describe it (ticket_fields, or the replica's stored document)."""
    return TicketCopy(
        id=ticket_id,
        title=fields.get("title", ""),
        price_cents=int(fields.get("price_cents", 0)),
        seller_id=fields.get("seller_id", ""),
        status=TicketStatus.parse(fields.get("status", "")),
        version=version,
        order_id=fields.get("order_id", ""),
    )
