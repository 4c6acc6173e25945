"""Tickets as protobuf messages: the API's `Ticket` and the `ticket.created` / `ticket.updated` event payloads."""

from __future__ import annotations

from common.timestamps import to_timestamp
from tickets_svc.domain import Ticket, TicketStatus
from ticketstore.events.v1 import tickets_pb2 as ticket_events
from ticketstore.tickets.v1 import tickets_pb2

STATUS = {
    TicketStatus.AVAILABLE: tickets_pb2.TICKET_STATUS_AVAILABLE,
    TicketStatus.RESERVED: tickets_pb2.TICKET_STATUS_RESERVED,
    TicketStatus.SOLD: tickets_pb2.TICKET_STATUS_SOLD,
}


def ticket_message(ticket: Ticket) -> tickets_pb2.Ticket:
    return tickets_pb2.Ticket(
        id=ticket.id,
        title=ticket.title,
        price_cents=ticket.price_cents,
        seller_id=ticket.seller_id,
        status=STATUS[ticket.status],
        version=ticket.version,
        order_id=ticket.order_id,
        create_time=to_timestamp(ticket.created_at),
        update_time=to_timestamp(ticket.updated_at),
    )


def created_event(ticket: Ticket) -> ticket_events.TicketCreated:
    return ticket_events.TicketCreated(
        ticket_id=ticket.id,
        title=ticket.title,
        price_cents=ticket.price_cents,
        seller_id=ticket.seller_id,
        status=STATUS[ticket.status],
        version=ticket.version,
        occur_time=to_timestamp(ticket.created_at),
    )


def updated_event(ticket: Ticket) -> ticket_events.TicketUpdated:
    return ticket_events.TicketUpdated(
        ticket_id=ticket.id,
        title=ticket.title,
        price_cents=ticket.price_cents,
        seller_id=ticket.seller_id,
        status=STATUS[ticket.status],
        order_id=ticket.order_id,
        version=ticket.version,
        occur_time=to_timestamp(ticket.updated_at),
    )
