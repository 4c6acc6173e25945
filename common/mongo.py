"""MongoDB through PyMongo's async API (AsyncMongoClient is MongoDB's successor to Motor, which is deprecated),
behind the one adapter that absorbs what the embedded dev/test server (nx-27017) does differently from MongoDB.

Stores use `Database(client, name).collection(name, times=...)`: the same calls as a PyMongo collection, plus:
- The write turn. A write without a session takes this process's write turn (see `exclusive`); a write with a
  session runs inside `in_transaction`, which holds the turn for the whole transaction. On a real MongoDB replica
  set the turn is a no-op, so there this is plain PyMongo.
- One time codec. nx-27017 stores a datetime written through `$set` as a string and compares such values
  unreliably. Every datetime written (documents, updates, filters) is stored as integer epoch milliseconds, which
  both servers read back, compare and sort alike; the fields a collection declares in `times` read back as
  timezone-aware datetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.operations import UpdateOne
from pymongo.results import BulkWriteResult, DeleteResult, InsertOneResult, UpdateResult

from common.timestamps import epoch_millis, from_epoch_millis

T = TypeVar("T")
Document = dict[str, Any]
Session = AsyncClientSession
IndexKeys = str | Sequence[tuple[str, int]]


def connect(url: str, app_name: str, timeout_seconds: float = 10.0) -> AsyncMongoClient[Document]:
    """`timeout_seconds`: how long an operation waits for an unreachable server before it fails (and is retried)."""
    timeout_ms = int(timeout_seconds * 1000)
    return AsyncMongoClient(url, tz_aware=True, appname=app_name, serverSelectionTimeoutMS=timeout_ms)


# --- the write turn ---


@dataclass
class _WriteTurn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    isolated: bool | None = None  # None until the server was asked


# One turn per server (clients to the same server share it: AsyncMongoClient equality is "same server") and event
# loop. Entries are never dropped: a process talks to a handful of servers, and dropping one while a client of
# that server holds its lock would let a second writer in.
_turns: dict[tuple[int, Any], _WriteTurn] = {}


def _turn_of(client: AsyncMongoClient[Document]) -> _WriteTurn:
    key = (id(asyncio.get_running_loop()), client.eq_props())
    turn = _turns.get(key)
    if turn is None:  # created before any await, so concurrent first callers share one lock
        turn = _turns[key] = _WriteTurn()
    return turn


async def isolates_transactions(client: AsyncMongoClient[Document]) -> bool:
    """Whether the server isolates concurrent transactions (a replica set or mongos; not nx-27017). Asked once."""
    turn = _turn_of(client)
    if turn.isolated is None:
        async with turn.lock:
            if turn.isolated is None:
                hello = await client.admin.command("hello")
                turn.isolated = "setName" in hello or hello.get("msg") == "isdbgrid"
    return turn.isolated


@contextlib.asynccontextmanager
async def exclusive(client: AsyncMongoClient[Document]) -> AsyncIterator[None]:
    """Hold this process's write turn on a server that does not isolate transactions; a no-op on one that does.

    A real MongoDB only offers transactions on a replica set (or mongos), where they are isolated. The embedded
    dev/test server (nx-27017) offers them on a standalone server but does not isolate concurrent ones (they nest
    as SQLite savepoints and lose writes), so there a process's transactions run one at a time. Plain writes take
    it too: there a write made while another session's transaction is open joins that transaction.
    """
    turn = _turn_of(client)
    if await isolates_transactions(client):
        yield
    else:
        async with turn.lock:
            yield


async def in_transaction(client: AsyncMongoClient[Document], work: Callable[[Session], Awaitable[T]]) -> T:
    """Run `work` in one transaction (retried by the driver on transient errors), holding the write turn.

    A real MongoDB needs a replica set (one node is enough) for this; the k8s manifests run it that way.
    The driver's own retries are bounded by twice the client's server-selection timeout (not its default 120 s):
    in an outage the caller fails soon, visibly, and is retried by its own layer (an event is redelivered with
    backoff), instead of holding the process's write turn for two minutes.
    """
    async with exclusive(client), client.start_session() as session:
        with pymongo.timeout(2 * client.options.server_selection_timeout):
            return await session.with_transaction(work)


# --- the time codec ---


def encode_times(value: Any) -> Any:
    """`value` with every datetime in it (at any depth) as integer epoch milliseconds."""
    if isinstance(value, dt.datetime):
        return epoch_millis(value)
    if isinstance(value, dict):
        return {key: encode_times(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode_times(item) for item in value]
    return value


def _decode_times(document: Document, times: frozenset[str]) -> Document:
    for name in times & document.keys():
        if isinstance(document[name], int):
            document[name] = from_epoch_millis(document[name])
    return document


# --- the adapter ---


class Database:
    """A service's database, handing out collections behind the adapter."""

    def __init__(self, client: AsyncMongoClient[Document], name: str) -> None:
        self.client = client
        self.name = name

    def collection(self, name: str, *, times: Iterable[str] = ()) -> Collection:
        """The collection `name`; the top-level fields in `times` hold datetimes."""
        return Collection(self.client[self.name][name], times)

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        return await in_transaction(self.client, work)


class Collection:
    """The subset of AsyncCollection the services use, with the write turn and the time codec applied."""

    def __init__(self, collection: AsyncCollection[Document], times: Iterable[str] = ()) -> None:
        self._collection = collection
        self._times = frozenset(times)

    @property
    def name(self) -> str:
        return self._collection.name

    async def create_index(self, keys: IndexKeys, **options: Any) -> str:
        return await self._collection.create_index(keys, **options)

    async def find_one(
        self, filter: Document, projection: Document | None = None, *, session: Session | None = None
    ) -> Document | None:
        document = await self._collection.find_one(encode_times(filter), projection, session=session)
        return None if document is None else _decode_times(document, self._times)

    async def count_documents(self, filter: Document) -> int:
        return await self._collection.count_documents(encode_times(filter))

    def find(self, filter: Document, *, session: Session | None = None) -> Cursor:
        return Cursor(self._collection.find(encode_times(filter), session=session), self._times)

    async def insert_one(self, document: Document, *, session: Session | None = None) -> InsertOneResult:
        async with self._turn(session):
            return await self._collection.insert_one(encode_times(document), session=session)

    async def update_one(self, filter: Document, update: Document, *, session: Session | None = None) -> UpdateResult:
        async with self._turn(session):
            return await self._collection.update_one(encode_times(filter), encode_times(update), session=session)

    async def replace_one(
        self, filter: Document, replacement: Document, *, session: Session | None = None
    ) -> UpdateResult:
        async with self._turn(session):
            return await self._collection.replace_one(encode_times(filter), encode_times(replacement), session=session)

    async def delete_one(self, filter: Document, *, session: Session | None = None) -> DeleteResult:
        async with self._turn(session):
            return await self._collection.delete_one(encode_times(filter), session=session)

    async def delete_many(self, filter: Document, *, session: Session | None = None) -> DeleteResult:
        async with self._turn(session):
            return await self._collection.delete_many(encode_times(filter), session=session)

    async def update_each(self, updates: Sequence[tuple[Document, Document]]) -> BulkWriteResult:
        """Several (filter, update) pairs, applied in order, in one command (one round trip); each is atomic on its
        own, the whole is not."""
        operations = [UpdateOne(encode_times(filter), encode_times(update)) for filter, update in updates]
        async with self._turn(None):
            return await self._collection.bulk_write(operations, ordered=True)

    def _turn(self, session: Session | None) -> contextlib.AbstractAsyncContextManager[None]:
        # With a session the write belongs to a transaction, and `in_transaction` already holds the turn.
        if session is not None:
            return contextlib.nullcontext()
        return exclusive(self._collection.database.client)


class Cursor:
    """A find's results, with the collection's times decoded."""

    def __init__(self, cursor: AsyncCursor[Document], times: frozenset[str]) -> None:
        self._cursor = cursor
        self._times = times

    def sort(self, keys: str | Sequence[tuple[str, int]], direction: int | None = None) -> Cursor:
        self._cursor.sort(keys, direction)
        return self

    def limit(self, count: int) -> Cursor:
        self._cursor.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[Document]:
        return [_decode_times(document, self._times) for document in await self._cursor.to_list(length)]

    async def __aiter__(self) -> AsyncIterator[Document]:
        async for document in self._cursor:
            yield _decode_times(document, self._times)
