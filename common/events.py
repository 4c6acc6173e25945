"""The event catalogue: subjects, their protobuf payloads, the streams that hold them, and dedup ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from google.protobuf.message import Message

from ticketstore.events.v1 import expiration_pb2, orders_pb2, payments_pb2, tickets_pb2

TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
ORDER_CREATED = "order.created"
ORDER_CANCELLED = "order.cancelled"
ORDER_COMPLETED = "order.completed"
EXPIRATION_COMPLETE = "expiration.complete"
PAYMENT_CREATED = "payment.created"

PAYLOADS: dict[str, type[Message]] = {
    TICKET_CREATED: tickets_pb2.TicketCreated,
    TICKET_UPDATED: tickets_pb2.TicketUpdated,
    ORDER_CREATED: orders_pb2.OrderCreated,
    ORDER_CANCELLED: orders_pb2.OrderCancelled,
    ORDER_COMPLETED: orders_pb2.OrderCompleted,
    EXPIRATION_COMPLETE: expiration_pb2.ExpirationComplete,
    PAYMENT_CREATED: payments_pb2.PaymentCreated,
}


@dataclass(frozen=True)
class Stream:
    name: str
    subjects: tuple[str, ...]


STREAMS = (
    Stream("TICKETS", ("ticket.>",)),
    Stream("ORDERS", ("order.>",)),
    Stream("PAYMENTS", ("payment.>",)),
    Stream("EXPIRATION", ("expiration.>",)),
)
DEAD_LETTERS = Stream("DEADLETTERS", ("deadletter.>",))
DUPLICATE_WINDOW = timedelta(minutes=5)


def stream_for(subject: str) -> Stream:
    prefix = subject.split(".", 1)[0]
    for stream in STREAMS:
        if any(pattern.split(".", 1)[0] == prefix for pattern in stream.subjects):
            return stream
    raise KeyError(f"no stream holds {subject!r}")


def msg_id(subject: str, entity_id: str, version: int | None = None) -> str:
    """The broker-side dedup id: `<subject>:<entity id>:<version>` (no version for non-entity events)."""
    return f"{subject}:{entity_id}" if version is None else f"{subject}:{entity_id}:{version}"


def decode(subject: str, payload: bytes) -> Message:
    message = PAYLOADS[subject]()
    message.ParseFromString(payload)
    return message
