"""The one exception tree of ticket-store. Domain code raises these; only the gRPC edge maps them to status codes.

    TicketStoreError                 base: anything the caller can be told about
    ├── InvalidInput                 INVALID_ARGUMENT, with field violations (google.rpc.BadRequest)
    ├── Unauthenticated              UNAUTHENTICATED: no, expired or tampered session
    ├── Forbidden                    PERMISSION_DENIED: signed in, but not allowed
    ├── NotFound                     NOT_FOUND
    ├── AlreadyExists                ALREADY_EXISTS: a unique thing is taken (e.g. an email)
    ├── Conflict                     FAILED_PRECONDITION: the entity's state forbids it
    └── PaymentFailed                ABORTED with ErrorInfo reason PAYMENT_FAILED: the card was declined

Anything else that escapes a handler is INTERNAL with a masked message; details go to the log only.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

ERROR_DOMAIN = "ticketstore"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    message: str


class TicketStoreError(Exception):
    status: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"  # ErrorInfo.reason: a stable, machine-readable code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TicketStoreError):
    status = grpc.StatusCode.INVALID_ARGUMENT
    reason = "BAD_USER_INPUT"

    def __init__(self, violations: list[FieldViolation], message: str = "invalid input") -> None:
        super().__init__(message)
        self.violations = violations

    @classmethod
    def single(cls, field: str, message: str) -> InvalidInput:
        return cls([FieldViolation(field, message)])


class Unauthenticated(TicketStoreError):
    status = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class Forbidden(TicketStoreError):
    status = grpc.StatusCode.PERMISSION_DENIED
    reason = "FORBIDDEN"


class NotFound(TicketStoreError):
    status = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(TicketStoreError):
    status = grpc.StatusCode.ALREADY_EXISTS
    reason = "CONFLICT"


class Conflict(TicketStoreError):
    status = grpc.StatusCode.FAILED_PRECONDITION
    reason = "CONFLICT"


class PaymentFailed(TicketStoreError):
    status = grpc.StatusCode.ABORTED
    reason = "PAYMENT_FAILED"


class Violations:
    """Collects field violations so a request reports all its bad fields at once."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, message: str) -> None:
        self._items.append(FieldViolation(field, message))

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidInput(list(self._items))
