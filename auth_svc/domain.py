"""Account rules, free of I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import Violations
from common.text import is_display_safe

EMAIL_MAX = 254
PASSWORD_MIN, PASSWORD_MAX = 8, 128
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")  # used with fullmatch


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
    elif len(normalised) > EMAIL_MAX or not _EMAIL.fullmatch(normalised) or not is_display_safe(normalised):
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
