"""Transactional outbox: an entity write and its pending events commit together; a relay publishes them.

Two forms, one relay behaviour:
- `Outbox`: an `outbox` collection. `outbox.transaction(work)` runs `work` in one transaction of the service's
  database, where it writes the entity and calls `outbox.add(session, ...)`.
- `DocumentOutbox`: the pending events live inside the entity's own document (field `outbox`, one entry per
  version, and a count `outbox_n`), so the entity and its event are ONE conditional write, atomic on any server,
  without a transaction. The store merges `stage(...)`'s fields into its write and calls `written(...)` after it.
Relay side: the events a commit wrote are handed to the relay in memory and published right away (no read of the
database), together with whatever else is waiting, then removed in one command. A periodic sweep (and one at
start) reads what is still stored: that recovers events left behind by a crash between commit and publish, or by
a failed publish. Each event is removed only after JetStream acknowledged it; its `Nats-Msg-Id` makes a second
publish of the same event a no-op at the broker.

Each event keeps the trace context of the code that wrote it (`trace`), so its publish continues that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message
from pymongo import ASCENDING, AsyncMongoClient

from common import events, metrics, tracing
from common.bus import EventBus
from common.mongo import Collection, Database, Document, Session
from common.supervisor import Supervisor
from common.timestamps import epoch_millis, from_epoch_millis, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
COLLECTION = "outbox"
BATCH = 500


@dataclass(frozen=True)
class PendingEvent:
    """One event waiting to be published."""

    entity_id: str
    version: int | None  # None for an event that is not an entity's version (e.g. session.revoked)
    subject: str
    payload: bytes
    msg_id: str
    trace: dict[str, str]
    created_at: dt.datetime


def pending_event(subject: str, message: Message, entity_id: str, version: int | None) -> PendingEvent:
    msg_id = events.msg_id(subject, entity_id, version)
    return PendingEvent(entity_id, version, subject, message.SerializeToString(), msg_id, tracing.carrier(), utcnow())


class _Relay:
    """The relay loop both outboxes share: events handed over in memory are published at once; the stored ones on
    a sweep every `sweep_seconds` (and at start)."""

    def __init__(self, bus: Callable[[], EventBus], service: str, sweep_seconds: float) -> None:
        self.service = service  # the metrics' label
        self._bus = bus
        self._sweep_seconds = sweep_seconds
        self._handed: list[PendingEvent] = []  # committed, not yet published by this process
        self._published: list[PendingEvent] = []  # acknowledged by the broker, not yet removed from the store
        self._remover: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, limit: int = BATCH) -> int:
        """Publish up to `limit` stored events (oldest first where the store can tell), then remove them."""
        raise NotImplementedError

    async def _remove(self, published: list[PendingEvent]) -> None:
        raise NotImplementedError

    def notify(self) -> None:
        self._wake.set()

    def _hand_over(self, committed: Iterable[PendingEvent]) -> None:
        self._handed.extend(committed)
        self._wake.set()

    async def _publish_handed(self) -> int:
        """Publish what commits handed over (in the order they committed). Their removal from the store runs beside
        (`_remove_published`), so the next commits' events do not wait for it: on nx-27017 a removal queues for the
        process's write turn behind the transactions in progress."""
        batch, self._handed = self._handed[:BATCH], self._handed[BATCH:]
        if batch:
            await self._publish_all(batch)
            self._published.extend(batch)
            if self._remover is None or self._remover.done():
                self._remover = asyncio.create_task(self._remove_published())
        return len(batch)

    async def _remove_published(self) -> None:
        while self._published:
            batch, self._published = self._published[:BATCH], self._published[BATCH:]
            try:
                await self._remove(batch)
            except Exception:  # they stay stored: the sweep publishes them again and the broker drops the repeats
                log.warning("outbox relay: %d published events not removed; the sweep will", len(batch), exc_info=True)

    async def _publish_all(self, pending: list[PendingEvent]) -> None:
        """The publishes go out together (written in order on one connection, acknowledged concurrently): if any
        fails nothing is removed, and the retry's repeats are dropped by the broker's dedup window."""
        try:
            await asyncio.gather(*(self._publish(event) for event in pending))
        except Exception:
            metrics.OUTBOX_FAILURES.labels(self.service).inc()
            raise

    async def _publish(self, event: PendingEvent) -> None:
        with tracing.publish_span(event.subject, event.trace):
            await self._bus().publish_raw(event.subject, event.payload, event.msg_id)
        metrics.OUTBOX_PUBLISHED.labels(self.service, event.subject).inc()
        metrics.OUTBOX_RELAY_SECONDS.labels(self.service).observe(_age(event.created_at))

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._task = (supervisor or Supervisor()).spawn(self.task_name, self._run)

    @property
    def task_name(self) -> str:
        """The relay's name under supervision (health and restarts are counted by it)."""
        return "outbox-relay"

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # a last attempt; whatever is left is swept by the next start
            await self._publish_handed()
            if self._remover is not None:
                await self._remover
            await self.sweep()

    async def _run(self) -> None:
        next_sweep = 0.0  # the first sweep runs at once: it publishes what a crash left behind
        while True:
            if not self._handed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_sweep - time.monotonic()))
            self._wake.clear()
            try:
                while await self._publish_handed() == BATCH:  # a full batch: more may be waiting
                    pass
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self._sweep_seconds
                    while await self.sweep(BATCH) == BATCH:
                        pass
            except asyncio.CancelledError:
                raise
            except Exception:
                # What was handed over stays stored: the next sweep publishes it.
                self._handed.clear()
                next_sweep = time.monotonic() + self._sweep_seconds
                log.exception("outbox relay: publish failed; will retry on the next sweep")


class Outbox(_Relay):
    """The outbox collection of a service's database, written in the entity's transaction."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db_name: str,
        bus: EventBus,
        sweep_seconds: float = 5.0,
        service: str = "",
    ) -> None:
        super().__init__(lambda: bus, service or db_name, sweep_seconds)
        self._database = Database(client, db_name)
        self._collection = self._database.collection(COLLECTION, times=["created_at"])
        self._staged: dict[int, list[PendingEvent]] = {}  # by id(session): the events of a transaction in progress

    async def ensure_indexes(self) -> None:
        # (nx-27017 rejects compound indexes that include _id; created_at alone serves the sort.)
        await self._collection.create_index([("created_at", ASCENDING)])

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run `work` in one transaction; the events it added are published right after the commit."""
        staged: list[PendingEvent] = []

        async def attempt(session: Session) -> T:
            staged.clear()  # the driver may run `work` again (a transient error): only the last run commits
            self._staged[id(session)] = staged
            return await work(session)

        try:
            result = await self._database.transaction(attempt)
        finally:
            for key in [key for key, events_ in self._staged.items() if events_ is staged]:
                del self._staged[key]
        self._hand_over(staged)
        return result

    async def add(
        self,
        session: Session,
        subject: str,
        message: Message,
        entity_id: str,
        version: int | None,
    ) -> None:
        """Record an event as part of the caller's transaction (once per event: its id is unique)."""
        event = pending_event(subject, message, entity_id, version)
        document = {
            "_id": event.msg_id,
            "subject": subject,
            "payload": event.payload,
            "trace": event.trace,
            "created_at": event.created_at,
        }
        await self._collection.insert_one(document, session=session)
        staged = self._staged.get(id(session))
        if staged is not None:  # (a transaction not run by `transaction` is left to the sweep)
            staged.append(event)

    async def flush(self, limit: int = BATCH) -> int:
        """Publish up to `limit` stored events, oldest first, then delete them; returns how many."""
        return await self.sweep(limit)

    async def sweep(self, limit: int = BATCH) -> int:
        async with self._lock:
            cursor = self._collection.find({}).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
            pending = [_stored(document) for document in await cursor.to_list(length=limit)]
            if not pending:
                return 0
            await self._publish_all(pending)
            await self._remove(pending)
            return len(pending)

    async def _remove(self, published: list[PendingEvent]) -> None:
        await self._collection.delete_many({"_id": {"$in": [event.msg_id for event in published]}})

    async def sample_backlog(self) -> None:
        """Refresh the backlog gauges (common.metrics.Sampler calls this)."""
        backlog = await self._collection.count_documents({})
        first = await self._collection.find({}).sort([("created_at", ASCENDING)]).limit(1).to_list(1)
        oldest = first[0] if first else None
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        metrics.OUTBOX_OLDEST_SECONDS.labels(self.service).set(_age(oldest["created_at"]) if oldest else 0.0)


def _stored(document: Document) -> PendingEvent:
    """An event of the outbox collection (its entity and version matter only to `DocumentOutbox`)."""
    return PendingEvent("", None, str(document["subject"]), bytes(document["payload"]), str(document["_id"]),
                        dict(document.get("trace") or {}), document["created_at"])  # fmt: skip


PENDING, PENDING_COUNT = "outbox", "outbox_n"


class DocumentOutbox(_Relay):
    """Pending events inside the entity documents of `collection`: `outbox.v<version>` holds the event of that
    version, `outbox_n` counts them (the sweep's index). Entities written here must carry a version per event.

    Write: merge `stage(...)` into the entity's insert (`inserted`) or conditional update (`updated`), then call
    `written(...)` once the write succeeded. Removal is one conditional update per event (only if it is still
    there, so the count stays exact whoever removes it first), all in one command."""

    def __init__(
        self, collection: Collection, bus: Callable[[], EventBus], service: str, sweep_seconds: float = 5.0
    ) -> None:
        super().__init__(bus, service, sweep_seconds)
        self._collection = collection

    @property
    def task_name(self) -> str:
        return f"outbox-relay:{self._collection.name}"

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([(PENDING_COUNT, ASCENDING)])

    @staticmethod
    def stage(subject: str, message: Message, entity_id: str, version: int) -> tuple[PendingEvent, str]:
        """The event and its key inside the document (`v<version>`)."""
        return pending_event(subject, message, entity_id, version), f"v{version}"

    @staticmethod
    def inserted(document: Document, event: PendingEvent, key: str) -> Document:
        """`document` (a new entity) with `event` pending in it."""
        return {**document, PENDING: {key: _entry(event)}, PENDING_COUNT: 1}

    @staticmethod
    def updated(update: Document, event: PendingEvent, key: str) -> Document:
        """The update operators `update` with `event` added to the document's pending events."""
        return {
            **update,
            "$set": {**update.get("$set", {}), f"{PENDING}.{key}": _entry(event)},
            "$inc": {**update.get("$inc", {}), PENDING_COUNT: 1},
        }

    def written(self, event: PendingEvent) -> None:
        """The write that staged `event` succeeded: publish it now."""
        self._hand_over([event])

    async def sweep(self, limit: int = BATCH) -> int:
        async with self._lock:
            documents = await self._collection.find({PENDING_COUNT: {"$gt": 0}}).limit(limit).to_list(limit)
            pending = [event for document in documents for event in _document_events(document)]
            if pending:
                await self._publish_all(pending)
                await self._remove(pending)
            return len(documents)

    async def _remove(self, published: list[PendingEvent]) -> None:
        await self._collection.update_each([
            ({"_id": event.entity_id, f"{PENDING}.{_key(event)}": {"$exists": True}},
             {"$unset": {f"{PENDING}.{_key(event)}": ""}, "$inc": {PENDING_COUNT: -1}})
            for event in published
        ])  # fmt: skip

    async def sample_backlog(self) -> None:
        """Refresh the backlog gauges (common.metrics.Sampler calls this)."""
        documents = await self._collection.find({PENDING_COUNT: {"$gt": 0}}).to_list()
        pending = [event for document in documents for event in _document_events(document)]
        metrics.OUTBOX_BACKLOG.labels(self.service).set(len(pending))
        oldest = min((event.created_at for event in pending), default=None)
        metrics.OUTBOX_OLDEST_SECONDS.labels(self.service).set(_age(oldest) if oldest else 0.0)


def _entry(event: PendingEvent) -> Document:
    return {"subject": event.subject, "payload": event.payload, "msg_id": event.msg_id, "trace": event.trace,
            "created_at": epoch_millis(event.created_at)}  # fmt: skip


def _key(event: PendingEvent) -> str:
    return f"v{event.version}"


def _document_events(document: Document) -> list[PendingEvent]:
    """The events pending in an entity document, oldest version first."""
    versions = sorted(int(key.removeprefix("v")) for key in document.get(PENDING) or {})
    entries = [(version, document[PENDING][f"v{version}"]) for version in versions]
    return [PendingEvent(str(document["_id"]), version, str(entry["subject"]), bytes(entry["payload"]),
                         str(entry["msg_id"]), dict(entry.get("trace") or {}),
                         from_epoch_millis(int(entry["created_at"])))
            for version, entry in entries]  # fmt: skip


def _age(created_at: object) -> float:
    """Seconds since `created_at` (a client without tz_aware reads naive UTC datetimes); 0 if unreadable."""
    if not isinstance(created_at, dt.datetime):
        return 0.0
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)
    return max(0.0, (utcnow() - created_at).total_seconds())
