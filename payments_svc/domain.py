"""Payment rules, free of I/O: input validation, who may pay what and when, and what to do with a PaymentIntent."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass

from common.errors import Conflict, Forbidden, InvalidInput, Violations
from common.ids import check_id

PAYMENT_METHOD_MAX = 255
CURRENCY = "usd"
# The answers of a charge that did not become a Payment (SPEC "Payments": the answer is the truth).
CANCELLED_REFUNDED = "order was cancelled; the charge was refunded"
NOT_CONFIRMED = (
    "the charge went through but the order is not confirmed yet: it ends COMPLETE, or CANCELLED with the charge "
    "refunded; follow the order's status"
)


class OrderStatus(enum.StrEnum):
    CREATED = "CREATED"
    CANCELLED = "CANCELLED"
    COMPLETE = "COMPLETE"


@dataclass(frozen=True)
class OrderCopy:
    """Our replica of an order (from ORDERS events)."""

    id: str
    user_id: str
    ticket_id: str
    price_cents: int
    expires_at: dt.datetime
    status: OrderStatus
    version: int


@dataclass(frozen=True)
class PaymentRecord:
    """A charge we recorded for an order (at most one per order)."""

    id: str
    order_id: str
    stripe_id: str
    amount_cents: int
    created_at: dt.datetime
    refunded: bool = False
    refund_id: str | None = None


@dataclass(frozen=True)
class PayRequest:
    order_id: str
    payment_method: str


def validate_order_id(order_id: str) -> str:
    return check_id(order_id, "order_id")


def validate_pay(order_id: str, payment_method: str) -> PayRequest:
    """The request, or InvalidInput naming every bad field."""
    problems = Violations()
    try:
        check_id(order_id, "order_id")
    except InvalidInput as error:
        for violation in error.violations:
            problems.add(violation.field, violation.message)
    if not payment_method.strip():
        problems.add("payment_method", "a payment method is required")
    elif len(payment_method) > PAYMENT_METHOD_MAX:
        problems.add("payment_method", f"at most {PAYMENT_METHOD_MAX} characters")
    problems.raise_if_any()
    return PayRequest(order_id, payment_method)


def check_buyer(order: OrderCopy, caller_id: str) -> None:
    if order.user_id != caller_id:
        raise Forbidden("only the buyer can pay for or see the payment of this order")


def check_payable(order: OrderCopy, caller_id: str, now: dt.datetime, *, paid: bool) -> None:
    """Raise unless `caller_id` may pay `order` now. `paid`: a payment is already recorded for it."""
    check_buyer(order, caller_id)
    if order.status is OrderStatus.CANCELLED:
        raise Conflict("order is cancelled")
    if paid or order.status is OrderStatus.COMPLETE:
        raise Conflict("order already paid")
    if order.expires_at <= now:
        raise Conflict("order has expired")


class IntentAction(enum.Enum):
    CONFIRM = "confirm"  # attach the payment method and confirm
    RECORD = "record"  # the charge succeeded: record the payment
    RESTART = "restart"  # this intent cannot be confirmed again: cancel it and use a fresh one
    AUTHENTICATE = "authenticate"  # 3-D Secure: the buyer completes it with the client secret, then asks again
    WAIT = "wait"  # Stripe is still processing it: the caller retries later


# PaymentIntent statuses from which Stripe lets us cancel the intent.
CANCELLABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"})


def next_action(status: str, *, failed_before: bool) -> IntentAction:
    """What to do with a stored PaymentIntent in `status`. `failed_before`: it carries a last payment error.

    A declined intent goes back to `requires_payment_method`. Real Stripe would accept a new confirmation, the
    local emulator does not, so we always move on to a fresh intent (the declined one is cancelled): that works on
    both, and no intent of ours is ever confirmed twice.
    """
    if status == "succeeded":
        return IntentAction.RECORD
    if status == "requires_confirmation" or (status == "requires_payment_method" and not failed_before):
        return IntentAction.CONFIRM
    if status == "processing":
        return IntentAction.WAIT
    if status == "requires_action":
        return IntentAction.AUTHENTICATE  # kept: the buyer's browser is completing (or will complete) the challenge
    # canceled, declined (also a failed 3-D Secure challenge: requires_payment_method with an error), requires_capture
    return IntentAction.RESTART


def declined_message(stripe_message: str | None) -> str:
    return f"card declined: {stripe_message or 'the card was declined'}"


# --- Stripe idempotency keys (Stripe keeps them 24 h; they make a retried call replay instead of repeating) ---


def create_key(order_id: str, attempt: int) -> str:
    """One PaymentIntent per order and attempt (a new attempt only follows a declined or dead intent)."""
    return f"pi-create-{order_id}" if attempt == 0 else f"pi-create-{order_id}-{attempt}"


def confirm_key(order_id: str, attempt: int, payment_method: str) -> str:
    method = hashlib.sha256(payment_method.encode()).hexdigest()[:24]
    return f"pi-confirm-{order_id}-{attempt}-{method}"


def refund_key(stripe_id: str) -> str:
    return f"refund-{stripe_id}"
