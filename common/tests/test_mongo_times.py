"""The adapter's time codec: datetimes written any way (insert, $set, replace) read back as timezone-aware
datetimes, and compare and sort as times, on the dev/test server as on MongoDB."""

from __future__ import annotations

import datetime as dt

from common.mongo import Database, connect
from common.testing.servers import RunningServer

T0 = dt.datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=dt.UTC)


async def test_times_read_back_compare_and_sort_whatever_wrote_them(mongo_server: RunningServer, mongo_db: str) -> None:
    client = connect(mongo_server.url, "test")
    things = Database(client, mongo_db).collection("things", times=["at"])
    for n in range(-2, 3):
        await things.insert_one({"_id": f"i{n}", "at": T0 + dt.timedelta(days=n)})
    await things.update_one({"_id": "i0"}, {"$set": {"at": T0 + dt.timedelta(days=10)}})
    await things.replace_one({"_id": "i1"}, {"at": T0 - dt.timedelta(days=10)})

    updated = await things.find_one({"_id": "i0"})
    assert updated == {"_id": "i0", "at": T0 + dt.timedelta(days=10)}
    assert updated["at"].utcoffset() == dt.timedelta(0)
    newest_first = [d["_id"] async for d in things.find({}).sort("at", -1)]
    assert newest_first == ["i0", "i2", "i-1", "i-2", "i1"]
    later = await things.find({"at": {"$gt": T0}}).sort("at", 1).to_list()
    assert [(d["_id"], d["at"]) for d in later] == [
        ("i2", T0 + dt.timedelta(days=2)),
        ("i0", T0 + dt.timedelta(days=10)),
    ]
    assert await things.find_one({"at": T0 - dt.timedelta(days=10)}) == {"_id": "i1", "at": T0 - dt.timedelta(days=10)}
    await client.close()
