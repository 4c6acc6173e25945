"""Order rules, free of I/O: who may order a ticket, and which state changes an order allows.

    CREATED ──cancel / expiry / reserved at another price──▶ CANCELLED
       └──────payment, once its ticket is reserved for it──────▶ COMPLETE
Each change adds exactly 1 to the order's version. CREATED and COMPLETE orders hold their ticket.

The price charged is the one the order recorded from our copy of the ticket. The seller may change the price at the
tickets service after our copy priced the order and before the tickets service reserved the ticket for it; the
reservation (a ticket version naming the order) carries the price it reserved at, so an order whose recorded price
differs is cancelled rather than charged a stale price, and a payment completes an order only once that
reservation confirmed its price. To keep that race to truly concurrent changes, an order waits briefly for our copy
to reach the ticket version the buyer was shown (`seen_version`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass

from common import paging
from common.errors import Conflict, Forbidden, InvalidInput
from common.timestamps import truncate_to_millis

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 200

OWN_TICKET = "you cannot buy your own ticket"
TICKET_RESERVED = "this ticket is reserved by another order"
TICKET_SOLD = "this ticket is sold"
TICKET_UNAVAILABLE = "this ticket is not available"
ORDER_PAID = "a paid order cannot be cancelled"
NOT_THE_BUYER = "only the buyer can see or change this order"


class OrderStatus(enum.StrEnum):
    CREATED = "CREATED"
    CANCELLED = "CANCELLED"
    COMPLETE = "COMPLETE"


class TicketStatus(enum.StrEnum):
    UNKNOWN = "UNKNOWN"
    AVAILABLE = "AVAILABLE"
    RESERVED = "RESERVED"
    SOLD = "SOLD"

    @classmethod
    def parse(cls, name: str) -> TicketStatus:
        """From a stored name or a proto enum name (`TICKET_STATUS_RESERVED`); anything else is UNKNOWN."""
        short = name.removeprefix("TICKET_STATUS_")
        return cls(short) if short in cls.__members__ else cls.UNKNOWN


@dataclass(frozen=True)
class TicketCopy:
    """Our replica of a ticket, as its events told us."""

    id: str
    title: str
    price_cents: int
    seller_id: str
    status: TicketStatus
    version: int
    order_id: str  # the order holding it (RESERVED or SOLD); "" when AVAILABLE


@dataclass(frozen=True)
class Order:
    id: str
    user_id: str
    ticket_id: str
    status: OrderStatus
    price_cents: int
    expires_at: dt.datetime
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def holds_ticket(self) -> bool:
        return self.status is not OrderStatus.CANCELLED


def check_orderable(ticket: TicketCopy, buyer_id: str, holder: Order | None) -> None:
    """Conflict unless `buyer_id` may order `ticket`.

    `holder` is our order named by a RESERVED ticket, if we have it. A RESERVED ticket whose holding order is already
    cancelled here is only waiting for the tickets service to release it, so it may be ordered again: the ticket lock
    (one active order per ticket, a unique key) stays the real guard.
    """
    if ticket.seller_id == buyer_id:
        raise Conflict(OWN_TICKET)
    if ticket.status is TicketStatus.AVAILABLE:
        return
    if ticket.status is TicketStatus.RESERVED:
        if holder is not None and holder.id == ticket.order_id and holder.status is OrderStatus.CANCELLED:
            return
        raise Conflict(TICKET_RESERVED)
    if ticket.status is TicketStatus.SOLD:
        raise Conflict(TICKET_SOLD)
    raise Conflict(TICKET_UNAVAILABLE)


def new_order(order_id: str, ticket: TicketCopy, buyer_id: str, now: dt.datetime, window: dt.timedelta) -> Order:
    """A CREATED order at the ticket's current price, expiring `window` after `now`."""
    now = truncate_to_millis(now)
    return Order(
        id=order_id,
        user_id=buyer_id,
        ticket_id=ticket.id,
        status=OrderStatus.CREATED,
        price_cents=ticket.price_cents,
        expires_at=now + window,
        version=0,
        created_at=now,
        updated_at=now,
    )


def too_many_active(maximum: int) -> str:
    return f"you already hold {maximum} unpaid orders: pay or cancel one first"


def check_buyer(order: Order, user_id: str) -> None:
    if order.user_id != user_id:
        raise Forbidden(NOT_THE_BUYER)


def wants_cancel(order: Order) -> bool:
    """Asked by the buyer: True when the order must become CANCELLED, False when it already is (unchanged)."""
    if order.status is OrderStatus.COMPLETE:
        raise Conflict(ORDER_PAID)
    return order.status is OrderStatus.CREATED


def expires(order: Order) -> bool:
    """The payment window closed: only an unpaid (CREATED) order is cancelled; a paid one never is."""
    return order.status is OrderStatus.CREATED


def completes(order: Order) -> bool:
    """A payment arrived: only a CREATED order becomes COMPLETE (a cancelled one is refunded by payments)."""
    return order.status is OrderStatus.CREATED


def cancelled(order: Order, now: dt.datetime) -> Order:
    return dataclasses.replace(
        order, status=OrderStatus.CANCELLED, version=order.version + 1, updated_at=truncate_to_millis(now)
    )


def completed(order: Order, now: dt.datetime) -> Order:
    return dataclasses.replace(
        order, status=OrderStatus.COMPLETE, version=order.version + 1, updated_at=truncate_to_millis(now)
    )


def reserved_at_other_price(order: Order, ticket: TicketCopy) -> bool:
    """`ticket` (a version of our copy) reserves it for `order`, still unpaid, at a price the order did not record."""
    return (
        order.status is OrderStatus.CREATED and _reserved_for(order, ticket) and ticket.price_cents != order.price_cents
    )


class PaymentVerdict(enum.Enum):
    COMPLETE = "complete"  # the order is paid: CREATED -> COMPLETE
    CANCEL = "cancel"  # its ticket was reserved at another price: CREATED -> CANCELLED (payments refunds)
    WAIT = "wait"  # the reservation has not reached our copy yet: redeliver the payment later
    IGNORE = "ignore"  # not CREATED any more (a cancelled order's charge is refunded by payments)


def payment_verdict(order: Order, ticket: TicketCopy | None) -> PaymentVerdict:
    """What a successful payment does to `order`, given our copy of its ticket."""
    if not completes(order):
        return PaymentVerdict.IGNORE
    if ticket is None or not _reserved_for(order, ticket):
        return PaymentVerdict.WAIT
    if reserved_at_other_price(order, ticket):
        return PaymentVerdict.CANCEL
    return PaymentVerdict.COMPLETE


def _reserved_for(order: Order, ticket: TicketCopy) -> bool:
    return ticket.id == order.ticket_id and ticket.status is TicketStatus.RESERVED and ticket.order_id == order.id


def seen_version(version: int) -> int:
    """The ticket version a buyer was shown: 0 (unknown) or more; negative is invalid."""
    if version < 0:
        raise InvalidInput.single("seen_ticket_version", "must be 0 (unknown) or a ticket version")
    return version


def page_size(requested: int) -> int:
    """The size of a page of "my orders": 0 means the default; above the maximum is capped; negative is invalid."""
    return paging.page_size(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
