"""Transactions on the dev/test server: concurrent ones must not interleave (nx-27017 does not isolate them)."""

from __future__ import annotations

import asyncio

from common.mongo import connect, exclusive, in_transaction
from common.testing.servers import RunningServer


async def test_concurrent_first_transactions_of_a_new_client_all_commit(
    mongo_server: RunningServer, mongo_db: str
) -> None:
    client = connect(mongo_server.url, "test")  # fresh: the first callers race to learn the server's kind
    things = client[mongo_db]["things"]
    await things.create_index("n")

    async def write(n: int) -> None:
        async def work(session):  # type: ignore[no-untyped-def]
            await things.insert_one({"_id": f"a{n}", "n": n}, session=session)
            await asyncio.sleep(0.005)  # hold the transaction open while the others try
            await things.insert_one({"_id": f"b{n}", "n": n}, session=session)

        await in_transaction(client, work)

    async def plain(n: int) -> None:
        async with exclusive(client):
            await things.insert_one({"_id": f"p{n}", "n": n})

    await asyncio.gather(*(write(n) for n in range(12)), *(plain(n) for n in range(12)))
    assert await things.count_documents({}) == 36
    await client.close()
