"""Entity ids: ObjectId hex strings (time-ordered, 24 hex digits), stored as plain strings."""

from __future__ import annotations

import re

from bson import ObjectId

from common.errors import InvalidInput

_ID = re.compile(r"[0-9a-f]{24}")


def new_id() -> str:
    return str(ObjectId())


def check_id(value: str, field: str = "id") -> str:
    """`value` if it is a well-formed id, else InvalidInput naming `field`."""
    if not _ID.fullmatch(value):  # fullmatch: `$` would let a trailing newline through
        raise InvalidInput.single(field, "must be a valid id")
    return value
