"""Versioned replicas: apply an entity event only when it is the next version of our copy.

    event.version == copy.version + 1  -> APPLIED (one conditional write)
    event.version <= copy.version      -> DUPLICATE (ack, change nothing)
    event.version >  copy.version + 1  -> EARLY (nak with a delay; the missing versions come first)
Version 0 creates the copy; a second version 0 is a duplicate (unique _id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo.errors import DuplicateKeyError

from common.bus import Outcome
from common.mongo import Collection, Session

T = TypeVar("T")


def classify(copy_version: int | None, event_version: int) -> Outcome:
    """The rule itself, free of I/O. `copy_version` is None when we hold no copy yet."""
    expected = 0 if copy_version is None else copy_version + 1
    if event_version == expected:
        return Outcome.APPLIED
    if copy_version is not None and event_version <= copy_version:
        return Outcome.DUPLICATE
    return Outcome.EARLY


async def apply_versioned(
    collection: Collection,
    entity_id: str,
    version: int,
    fields: dict[str, Any],
    session: Session | None = None,
) -> Outcome:
    """Apply `fields` as version `version` of `entity_id`, atomically (one conditional write), or say why not."""
    if version == 0:
        # Look first: inside a transaction a failed insert aborts the whole transaction on a real MongoDB.
        if await collection.find_one({"_id": entity_id}, {"_id": 1}, session=session) is not None:
            return Outcome.DUPLICATE
        try:
            await collection.insert_one({"_id": entity_id, **fields, "version": 0}, session=session)
        except DuplicateKeyError:
            return Outcome.DUPLICATE
        return Outcome.APPLIED
    result = await collection.update_one(
        {"_id": entity_id, "version": version - 1},
        {"$set": {**fields, "version": version}},
        session=session,
    )
    if result.modified_count == 1 or result.matched_count == 1:
        return Outcome.APPLIED
    current = await collection.find_one({"_id": entity_id}, {"version": 1}, session=session)
    outcome = classify(None if current is None else int(current["version"]), version)
    # The conditional write missed, so "applied" can only mean another writer got there first.
    return Outcome.DUPLICATE if outcome is Outcome.APPLIED else outcome


async def await_copy(read: Callable[[], Awaitable[T | None]], timeout: float, poll: float = 0.05) -> T | None:
    """The local copy `read()` returns, waiting up to `timeout` s for its creation event if it is not there yet.

    A client that acts right after creating something in another service (orders a ticket just listed, pays an
    order just made) should not get NOT_FOUND only because the event is still on its way. Polls the database,
    since another replica of the service may be the one applying the event.
    """
    deadline = time.monotonic() + timeout
    while True:
        copy = await read()
        if copy is not None or time.monotonic() >= deadline:
            return copy
        await asyncio.sleep(poll)
