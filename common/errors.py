"""The one exception tree of ticket-store: what a caller can be told went wrong, free of any transport.

    TicketStoreError
    ├── InvalidInput
    ├── Unauthenticated
    ├── Forbidden
    ├── NotFound
    ├── AlreadyExists
    ├── Conflict
    ├── PaymentFailed
    ├── PaymentActionRequired
    └── RateLimited

Domain code raises these. Only the gRPC edge (`common.grpc_edge`) turns them into status codes and rich details;
anything else that escapes a handler is an INTERNAL error with a masked message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    message: str


class TicketStoreError(Exception):
    """Anything the caller can be told about; `message` is safe to show them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TicketStoreError):
    """The request is malformed: `violations` names every bad field at once."""

    def __init__(self, violations: list[FieldViolation], message: str = "invalid input") -> None:
        super().__init__(message)
        self.violations = violations

    @classmethod
    def single(cls, field: str, message: str) -> InvalidInput:
        return cls([FieldViolation(field, message)])


class Unauthenticated(TicketStoreError):
    """The request carries no session, or an expired or tampered one."""


class Forbidden(TicketStoreError):
    """Signed in, but not allowed to do this."""


class NotFound(TicketStoreError):
    """The named entity does not exist."""


class AlreadyExists(TicketStoreError):
    """A unique thing is taken (e.g. an email)."""


class Conflict(TicketStoreError):
    """The entity's state forbids it (e.g. a reserved ticket cannot be changed)."""


class PaymentFailed(TicketStoreError):
    """The card was declined."""


class PaymentActionRequired(TicketStoreError):
    """The card needs the buyer's authentication (3-D Secure): the client completes the PaymentIntent with
    `client_secret` (Stripe.js `confirmCardPayment`), then asks again to record the payment."""

    def __init__(self, client_secret: str, message: str = "the card requires authentication (3-D Secure)") -> None:
        super().__init__(message)
        self.client_secret = client_secret


class RateLimited(TicketStoreError):
    """Too many requests, or no capacity right now: try again after `retry_after_seconds`."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, retry_after_seconds)


class Violations:
    """Collects field violations so a request reports all its bad fields at once."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, message: str) -> None:
        self._items.append(FieldViolation(field, message))

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidInput(list(self._items))


class PermanentFailure(Exception):
    """An event handler's verdict that a message can never succeed (it fails validation, or it cannot be
    processed at all): the bus dead-letters it at once. Not a `TicketStoreError`: no caller is ever told.
    Any other exception from a handler is transient and retried without limit (common.bus)."""
