"""Sizes of read requests, checked the same way by every service: a page of a listing, a batch of ids."""

from __future__ import annotations

from collections.abc import Collection

from common.errors import InvalidInput
from common.ids import check_id

MAX_BATCH = 500  # ids in one batch read (the gateway's DataLoaders send at most this many)


def page_size(requested: int, default: int, maximum: int) -> int:
    """0 means `default`; above `maximum` is capped; negative is InvalidInput on `page_size`."""
    if requested < 0:
        raise InvalidInput.single("page_size", f"must be 0 (default {default}) to {maximum}")
    return default if requested == 0 else min(requested, maximum)


def batch_ids(ids: Collection[str]) -> list[str]:
    """The distinct well-formed ids of a batch read, in order; InvalidInput on `ids` if it has more than MAX_BATCH.

    Malformed ids are left out rather than refused: they cannot name anything, so the answer just lacks them.
    """
    if len(ids) > MAX_BATCH:
        raise InvalidInput.single("ids", f"at most {MAX_BATCH} ids")
    found: list[str] = []
    for value in dict.fromkeys(ids):
        try:
            found.append(check_id(value, "ids"))
        except InvalidInput:
            continue
    return found
