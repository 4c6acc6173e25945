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


async def test_clients_of_one_server_share_a_write_turn_that_outlives_any_of_them(mongo_server: RunningServer) -> None:
    import gc

    other = connect(mongo_server.url, "test")  # equal to `client` (same server) but another object
    async with exclusive(other):
        pass
    client = connect(mongo_server.url, "test")
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with exclusive(client):
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    await other.close()
    del other
    gc.collect()  # the other client's entry goes while `client` holds its turn

    third = connect(mongo_server.url, "test")

    async def enter() -> None:
        async with exclusive(third):
            pass

    second = asyncio.create_task(enter())
    await asyncio.sleep(0.1)
    assert not second.done(), "a second writer got in while the first held the turn"
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, second), 5)
    await client.close()
    await third.close()
