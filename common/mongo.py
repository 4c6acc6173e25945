"""PyMongo async helpers (AsyncMongoClient is MongoDB's successor to Motor, which is deprecated)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

T = TypeVar("T")
Document = dict[str, Any]


def connect(url: str, app_name: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(url, tz_aware=True, appname=app_name, serverSelectionTimeoutMS=10_000)


async def in_transaction(client: AsyncMongoClient[Document], work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction (retried by the driver on transient errors).

    A real MongoDB needs a replica set (one node is enough) for this; the k8s manifests run it that way.
    """
    async with client.start_session() as session:
        return await session.with_transaction(work)
