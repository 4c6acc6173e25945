"""Ticket rules, free of I/O: validation, state changes, listing cursors, and how order events move a ticket."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
from dataclasses import dataclass, replace

from common import paging
from common.errors import Conflict, FieldViolation, Forbidden, InvalidInput, Violations
from common.ids import check_id
from common.text import is_display_safe
from common.timestamps import epoch_millis, from_epoch_millis
from common.versioning import Outcome, classify

TITLE_MAX = 200
PRICE_MIN, PRICE_MAX = 50, 99_999_999
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
_CURSOR_PREFIX = "t1"


class TicketStatus(enum.StrEnum):
    AVAILABLE = "AVAILABLE"
    RESERVED = "RESERVED"
    SOLD = "SOLD"


@dataclass(frozen=True)
class TicketInput:
    title: str
    price_cents: int


@dataclass(frozen=True)
class Ticket:
    id: str
    title: str
    price_cents: int
    seller_id: str
    status: TicketStatus
    order_id: str  # the order holding the ticket (RESERVED or SOLD); "" when AVAILABLE
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- create and update ---


def validate_ticket_input(title: str, price_cents: int) -> TicketInput:
    """Trimmed title and price, or InvalidInput naming every bad field at once."""
    problems = Violations()
    trimmed = title.strip()
    if not 1 <= len(trimmed) <= TITLE_MAX:
        problems.add("title", f"must be 1 to {TITLE_MAX} characters")
    elif not is_display_safe(trimmed):
        problems.add("title", "must not contain control or text-direction characters")
    if not PRICE_MIN <= price_cents <= PRICE_MAX:
        problems.add("price_cents", f"must be {PRICE_MIN} to {PRICE_MAX} cents")
    problems.raise_if_any()
    return TicketInput(trimmed, price_cents)


def validate_update(ticket_id: str, title: str, price_cents: int) -> tuple[str, TicketInput]:
    """The ticket id and the new input, or InvalidInput naming every bad field (`id` included) at once."""
    problems: list[FieldViolation] = []
    data = None
    try:
        check_id(ticket_id, "id")
    except InvalidInput as error:
        problems += error.violations
    try:
        data = validate_ticket_input(title, price_cents)
    except InvalidInput as error:
        problems += error.violations
    if problems or data is None:
        raise InvalidInput(problems)
    return ticket_id, data


def new_ticket(ticket_id: str, seller_id: str, data: TicketInput, now: dt.datetime) -> Ticket:
    return Ticket(ticket_id, data.title, data.price_cents, seller_id, TicketStatus.AVAILABLE, "", 0, now, now)


def updated_ticket(ticket: Ticket, caller_id: str, data: TicketInput, now: dt.datetime) -> Ticket:
    """The seller's edit as the next version, or Forbidden (not the seller) / Conflict (reserved or sold)."""
    if ticket.seller_id != caller_id:
        raise Forbidden("only the seller can change this ticket")
    if ticket.status is TicketStatus.RESERVED:
        raise Conflict("the ticket is reserved by an order and cannot be changed")
    if ticket.status is TicketStatus.SOLD:
        raise Conflict("the ticket is sold and cannot be changed")
    return _next(ticket, now, title=data.title, price_cents=data.price_cents)


def _next(ticket: Ticket, now: dt.datetime, **changes: object) -> Ticket:
    """The ticket with `changes` applied as its next version (every change adds exactly 1)."""
    return replace(ticket, **changes, version=ticket.version + 1, updated_at=now)  # type: ignore[arg-type]


# --- reads ---


def page_size(requested: int) -> int:
    """The size of a listing page: 0 means the default; above the maximum is capped; negative is invalid."""
    return paging.page_size(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


@dataclass(frozen=True)
class Cursor:
    """A position in the listing (newest first): the ticket's creation time and id, which break ties."""

    created_at: dt.datetime
    ticket_id: str


def encode_cursor(ticket: Ticket) -> str:
    raw = f"{_CURSOR_PREFIX}:{epoch_millis(ticket.created_at)}:{ticket.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    """The position `value` encodes, or InvalidInput on field `after`."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        prefix, millis, ticket_id = raw.split(":")
        if prefix != _CURSOR_PREFIX or not millis.isdigit():
            raise ValueError(raw)
        check_id(ticket_id)
        created_at = from_epoch_millis(int(millis))
    except (ValueError, UnicodeDecodeError, binascii.Error, InvalidInput, OverflowError) as exc:
        raise InvalidInput.single("after", "not a cursor from a previous page") from exc
    return Cursor(created_at, ticket_id)


# --- order events (the tickets service keeps a small versioned record per order) ---


@dataclass(frozen=True)
class OrderRef:
    """What the tickets service knows of an order: its ticket and the last order version applied."""

    order_id: str
    ticket_id: str
    version: int


@dataclass(frozen=True)
class Decision:
    """What one order event does: its outcome, the order record to write and the ticket's next state (if any)."""

    outcome: Outcome
    ref: OrderRef | None = None
    ticket: Ticket | None = None


def on_order_created(
    order_id: str, ticket_id: str, version: int, ref: OrderRef | None, ticket: Ticket | None, now: dt.datetime
) -> Decision:
    """Reserve the ticket for a new order.

    Known order: duplicate. Unknown ticket, or a ticket another order still holds: early (that order's cancel
    has not arrived yet). A ticket already sold to another order can never be reserved: the order is recorded
    (so its cancel applies cleanly) and the ticket is left as it is.
    """
    outcome = classify(None if ref is None else ref.version, version)
    if outcome is not Outcome.APPLIED:
        return Decision(outcome)
    if ticket is None:
        return Decision(Outcome.EARLY)
    record = OrderRef(order_id, ticket_id, version)
    if ticket.order_id == order_id:  # already holds it (cannot happen while the record is written alongside)
        return Decision(Outcome.DUPLICATE, ref=record)
    if ticket.status is TicketStatus.RESERVED:
        return Decision(Outcome.EARLY)
    if ticket.status is TicketStatus.SOLD:
        return Decision(Outcome.APPLIED, ref=record)
    reserved = _next(ticket, now, status=TicketStatus.RESERVED, order_id=order_id)
    return Decision(Outcome.APPLIED, ref=record, ticket=reserved)


def on_order_cancelled(
    order_id: str,
    ticket_id: str,  # noqa: ARG001 (one signature for the three order decisions)
    version: int,
    ref: OrderRef | None,
    ticket: Ticket | None,
    now: dt.datetime,
) -> Decision:
    """Release the ticket, but only if this very order holds it (an old order never frees a newer buyer's hold)."""
    return _on_order_finished(order_id, version, ref, ticket, now, TicketStatus.AVAILABLE, "")


def on_order_completed(
    order_id: str,
    ticket_id: str,  # noqa: ARG001 (one signature for the three order decisions)
    version: int,
    ref: OrderRef | None,
    ticket: Ticket | None,
    now: dt.datetime,
) -> Decision:
    """The order was paid: the ticket it holds is sold (and keeps the order id)."""
    return _on_order_finished(order_id, version, ref, ticket, now, TicketStatus.SOLD, order_id)


def _on_order_finished(
    order_id: str,
    version: int,
    ref: OrderRef | None,
    ticket: Ticket | None,
    now: dt.datetime,
    status: TicketStatus,
    holder: str,
) -> Decision:
    if ref is None:  # unknown order: this event overtook its order.created, which must come first
        return Decision(Outcome.EARLY)
    outcome = classify(ref.version, version)
    if outcome is not Outcome.APPLIED:
        return Decision(outcome)
    record = replace(ref, version=version)
    holds = ticket is not None and ticket.status is TicketStatus.RESERVED and ticket.order_id == order_id
    if ticket is None or not holds:
        return Decision(Outcome.APPLIED, ref=record)
    return Decision(Outcome.APPLIED, ref=record, ticket=_next(ticket, now, status=status, order_id=holder))
