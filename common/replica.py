"""Versioned replicas: apply an entity event only when it is the next version of our copy.

The rule (APPLIED / DUPLICATE / EARLY) is `common.versioning.classify`; here it is applied to a MongoDB copy with
one conditional write. Version 0 creates the copy; a second version 0 is a duplicate (unique _id).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo.errors import DuplicateKeyError

from common.mongo import Collection, Session
from common.versioning import Outcome
from common.versioning import classify as classify  # re-exported: a store may apply the rule in its own write

T = TypeVar("T")


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


async def await_copy(
    read: Callable[[], Awaitable[T | None]],
    timeout: float,
    poll: float = 0.05,
    ready: Callable[[T], bool] = lambda _: True,
) -> T | None:
    """The local copy `read()` returns, waiting up to `timeout` s for its creation event if it is not there yet
    (or for the copy to be `ready`, e.g. at a version the client has seen); after that, whatever copy there is.

    A client that acts right after creating something in another service (orders a ticket just listed, pays an
    order just made) should not get NOT_FOUND only because the event is still on its way. Polls the database,
    since another replica of the service may be the one applying the event.
    """
    deadline = time.monotonic() + timeout
    while True:
        copy = await read()
        if (copy is not None and ready(copy)) or time.monotonic() >= deadline:
            return copy
        await asyncio.sleep(poll)
