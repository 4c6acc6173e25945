"""Account rules, free of I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from common.errors import InvalidInput, Violations

EMAIL_MAX = 254
MAX_BATCH = 500
PASSWORD_MIN, PASSWORD_MAX = 8, 128
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def validate_sign_up(email: str, password: str) -> Credentials:
    """Normalised credentials, or InvalidInput naming every bad field."""
    problems = Violations()
    normalised = normalise_email(email)
    if not normalised:
        problems.add("email", "email is required")
    elif len(normalised) > EMAIL_MAX or not _EMAIL.match(normalised):
        problems.add("email", "must be a valid email address")
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        problems.add("password", f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    problems.raise_if_any()
    return Credentials(normalised, password)


def validate_sign_in(email: str, password: str) -> Credentials:
    problems = Violations()
    if not email.strip():
        problems.add("email", "email is required")
    if not password:
        problems.add("password", "password is required")
    problems.raise_if_any()
    return Credentials(normalise_email(email), password)


def batch_ids(ids: Sequence[str]) -> list[str]:
    """The distinct ids of a batch read, or InvalidInput when there are too many."""
    if len(ids) > MAX_BATCH:
        raise InvalidInput.single("ids", f"at most {MAX_BATCH} ids")
    return list(dict.fromkeys(ids))
