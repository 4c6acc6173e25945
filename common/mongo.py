"""PyMongo async helpers (AsyncMongoClient is MongoDB's successor to Motor, which is deprecated)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

T = TypeVar("T")
Document = dict[str, Any]


@dataclass
class _WriteTurn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    isolated: bool | None = None  # None until the server was asked


# One turn per server (clients to the same server share it: AsyncMongoClient equality is "same server") and event
# loop. Entries are never dropped: a process talks to a handful of servers, and dropping one while a client of
# that server holds its lock would let a second writer in.
_turns: dict[tuple[int, Any], _WriteTurn] = {}


def connect(url: str, app_name: str, timeout_seconds: float = 10.0) -> AsyncMongoClient[Document]:
    """`timeout_seconds`: how long an operation waits for an unreachable server before it fails (and is retried)."""
    timeout_ms = int(timeout_seconds * 1000)
    return AsyncMongoClient(url, tz_aware=True, appname=app_name, serverSelectionTimeoutMS=timeout_ms)


@contextlib.asynccontextmanager
async def exclusive(client: AsyncMongoClient[Document]) -> AsyncIterator[None]:
    """Hold this process's write turn on a server that does not isolate transactions; a no-op on one that does.

    A real MongoDB only offers transactions on a replica set (or mongos), where they are isolated. The embedded
    dev/test server (nx-27017) offers them on a standalone server but does not isolate concurrent ones (they nest
    as SQLite savepoints and lose writes), so there a process's transactions run one at a time. Wrap plain writes
    with it too: there a write made while another session's transaction is open joins that transaction.
    """
    key = (id(asyncio.get_running_loop()), client.eq_props())
    turn = _turns.get(key)
    if turn is None:  # created before any await, so concurrent first callers share one lock
        turn = _turns[key] = _WriteTurn()
    if turn.isolated is None:
        async with turn.lock:
            if turn.isolated is None:
                hello = await client.admin.command("hello")
                turn.isolated = "setName" in hello or hello.get("msg") == "isdbgrid"
    if turn.isolated:
        yield
    else:
        async with turn.lock:
            yield


async def in_transaction(client: AsyncMongoClient[Document], work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction (retried by the driver on transient errors).

    A real MongoDB needs a replica set (one node is enough) for this; the k8s manifests run it that way.
    The driver's own retries are bounded by twice the client's server-selection timeout (not its default 120 s):
    in an outage the caller fails soon, visibly, and is retried by its own layer (an event is redelivered with
    backoff), instead of holding the process's write turn for two minutes.
    """
    async with exclusive(client), client.start_session() as session:
        with pymongo.timeout(2 * client.options.server_selection_timeout):
            return await session.with_transaction(work)
