"""The event catalogue: subjects, their protobuf payloads, the streams that hold them, and dedup ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from google.protobuf.message import Message

from ticketstore.events.v1 import expiration_pb2, orders_pb2, payments_pb2, sessions_pb2, tickets_pb2

M = TypeVar("M", bound=Message)


class Subject(str, Generic[M]):
    """A subject name (a plain str) that also names its payload type, so handlers of it are typed by it."""

    payload: type[M]

    def __new__(cls, name: str, payload: type[M]) -> Subject[M]:
        subject = super().__new__(cls, name)
        subject.payload = payload
        return subject


TICKET_CREATED = Subject("ticket.created", tickets_pb2.TicketCreated)
TICKET_UPDATED = Subject("ticket.updated", tickets_pb2.TicketUpdated)
ORDER_CREATED = Subject("order.created", orders_pb2.OrderCreated)
ORDER_CANCELLED = Subject("order.cancelled", orders_pb2.OrderCancelled)
ORDER_COMPLETED = Subject("order.completed", orders_pb2.OrderCompleted)
EXPIRATION_COMPLETE = Subject("expiration.complete", expiration_pb2.ExpirationComplete)
PAYMENT_CREATED = Subject("payment.created", payments_pb2.PaymentCreated)
SESSION_REVOKED = Subject("session.revoked", sessions_pb2.SessionRevoked)

PAYLOADS: dict[str, type[Message]] = {
    subject: subject.payload
    for subject in (
        TICKET_CREATED,
        TICKET_UPDATED,
        ORDER_CREATED,
        ORDER_CANCELLED,
        ORDER_COMPLETED,
        EXPIRATION_COMPLETE,
        PAYMENT_CREATED,
        SESSION_REVOKED,
    )
}


@dataclass(frozen=True)
class Stream:
    name: str
    subjects: tuple[str, ...]
    max_age: timedelta | None = None  # messages older than this are dropped (None: kept)


STREAMS = (
    Stream("TICKETS", ("ticket.>",)),
    Stream("ORDERS", ("order.>",)),
    Stream("PAYMENTS", ("payment.>",)),
    Stream("EXPIRATION", ("expiration.>",)),
    # Revoked sessions matter only until the token expires: the longest TOKEN_TTL_SECONDS auth_svc accepts.
    Stream("SESSIONS", ("session.>",), max_age=timedelta(days=7)),
)
MAX_TOKEN_TTL = timedelta(days=7)
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
