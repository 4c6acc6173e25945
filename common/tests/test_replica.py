"""The versioned-replica helper against the MongoDB-compatible server, including under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from pymongo import AsyncMongoClient

from common.bus import Outcome
from common.mongo import Database, Document, connect
from common.replica import apply_versioned, classify
from common.testing.servers import RunningServer


def test_classify_rule() -> None:
    assert classify(None, 0) is Outcome.APPLIED
    assert classify(None, 1) is Outcome.EARLY
    assert classify(0, 0) is Outcome.DUPLICATE
    assert classify(3, 4) is Outcome.APPLIED
    assert classify(3, 2) is Outcome.DUPLICATE
    assert classify(3, 3) is Outcome.DUPLICATE
    assert classify(3, 5) is Outcome.EARLY


@pytest_asyncio.fixture
async def client(mongo_server: RunningServer) -> AsyncIterator[AsyncMongoClient[Document]]:
    mongo = connect(mongo_server.url, "test")
    yield mongo
    await mongo.close()


async def test_apply_duplicate_early(client: AsyncMongoClient[Document], mongo_db: str) -> None:
    coll = Database(client, mongo_db).collection("things")
    assert await apply_versioned(coll, "a", 1, {"v": "one"}) is Outcome.EARLY
    assert await apply_versioned(coll, "a", 0, {"v": "zero"}) is Outcome.APPLIED
    assert await apply_versioned(coll, "a", 0, {"v": "again"}) is Outcome.DUPLICATE
    assert await apply_versioned(coll, "a", 2, {"v": "two"}) is Outcome.EARLY
    assert await apply_versioned(coll, "a", 1, {"v": "one"}) is Outcome.APPLIED
    assert await apply_versioned(coll, "a", 1, {"v": "one again"}) is Outcome.DUPLICATE
    assert await apply_versioned(coll, "a", 2, {"v": "two"}) is Outcome.APPLIED
    assert await coll.find_one({"_id": "a"}) == {"_id": "a", "v": "two", "version": 2}


async def test_concurrent_deliveries_apply_each_version_once(client: AsyncMongoClient[Document], mongo_db: str) -> None:
    coll = Database(client, mongo_db).collection("things")
    assert await apply_versioned(coll, "a", 0, {"n": 0}) is Outcome.APPLIED
    # Eight copies of version 1 and eight of version 2 race: exactly one of each version applies.
    jobs = [apply_versioned(coll, "a", v, {"n": v}) for v in (1, 2) for _ in range(8)]
    outcomes = await asyncio.gather(*jobs)
    ones, twos = outcomes[:8], outcomes[8:]
    assert ones.count(Outcome.APPLIED) == 1
    assert ones.count(Outcome.DUPLICATE) == 7
    assert twos.count(Outcome.APPLIED) <= 1
    assert set(twos) <= {Outcome.APPLIED, Outcome.EARLY, Outcome.DUPLICATE}
    if Outcome.APPLIED not in twos:  # every copy of v2 came before v1: redelivery applies it now
        assert await apply_versioned(coll, "a", 2, {"n": 2}) is Outcome.APPLIED
    assert (await coll.find_one({"_id": "a"}) or {})["version"] == 2
