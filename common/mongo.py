"""PyMongo async helpers (AsyncMongoClient is MongoDB's successor to Motor, which is deprecated)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

T = TypeVar("T")
Document = dict[str, Any]

# Per client: None = not probed yet; a Lock = transactions must run one at a time; False = the server isolates them.
_serializers: weakref.WeakKeyDictionary[AsyncMongoClient[Document], asyncio.Lock | bool] = weakref.WeakKeyDictionary()


def connect(url: str, app_name: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(url, tz_aware=True, appname=app_name, serverSelectionTimeoutMS=10_000)


async def _serializer(client: AsyncMongoClient[Document]) -> asyncio.Lock | None:
    """A lock when the server is not a replica set / sharded cluster.

    A real MongoDB only offers transactions on a replica set (or mongos), where they are isolated. The embedded
    dev/test server (nx-27017) offers them on a standalone server but does not isolate concurrent ones (they nest
    as SQLite savepoints and lose writes), so there we run a process's transactions one at a time.
    """
    known = _serializers.get(client)
    if known is None:
        hello = await client.admin.command("hello")
        isolated = "setName" in hello or hello.get("msg") == "isdbgrid"
        known = _serializers[client] = False if isolated else asyncio.Lock()
    return known if isinstance(known, asyncio.Lock) else None


@contextlib.asynccontextmanager
async def exclusive(client: AsyncMongoClient[Document]) -> AsyncIterator[None]:
    """Hold this process's write turn on a server that does not isolate transactions; a no-op on one that does.

    Wrap plain writes with it too: on such a server a write made while another session's transaction is open
    joins that transaction (and is lost if it aborts).
    """
    lock = await _serializer(client)
    if lock is None:
        yield
    else:
        async with lock:
            yield


async def in_transaction(client: AsyncMongoClient[Document], work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction (retried by the driver on transient errors).

    A real MongoDB needs a replica set (one node is enough) for this; the k8s manifests run it that way.
    """
    async with exclusive(client), client.start_session() as session:
        return await session.with_transaction(work)
