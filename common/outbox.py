"""Transactional outbox: an entity write and its pending events commit together; a relay publishes them.

Write side: `outbox.transaction(work)` runs `work` in one transaction of the service's database, where it writes the
entity and calls `outbox.add(session, ...)`; the relay is woken right after the commit.
Relay side: `outbox.run()` publishes pending events oldest first, right after a notify and on a periodic sweep
(which is what recovers events left behind by a crash between commit and publish). Each event is deleted only
after JetStream acknowledged it; its `Nats-Msg-Id` makes a second publish of the same event a no-op at the broker.

Each event keeps the trace context of the code that wrote it (`trace`), so its publish continues that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from pymongo import ASCENDING, AsyncMongoClient

from common import events, metrics, tracing
from common.bus import EventBus
from common.mongo import Database, Document, Session
from common.supervisor import Supervisor
from common.timestamps import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
COLLECTION = "outbox"
BATCH = 500


class Outbox:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db_name: str,
        bus: EventBus,
        sweep_seconds: float = 5.0,
        service: str = "",
    ) -> None:
        self.service = service or db_name  # the metrics' label
        self._database = Database(client, db_name)
        self._collection = self._database.collection(COLLECTION, times=["created_at"])
        self._bus = bus
        self._sweep_seconds = sweep_seconds
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def ensure_indexes(self) -> None:
        # (nx-27017 rejects compound indexes that include _id; created_at alone serves the sort.)
        await self._collection.create_index([("created_at", ASCENDING)])

    async def transaction(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run `work` in one transaction; the events it added are published right after the commit."""
        result = await self._database.transaction(work)
        self.notify()
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
        document = {
            "_id": events.msg_id(subject, entity_id, version),
            "subject": subject,
            "payload": message.SerializeToString(),
            "trace": tracing.carrier(),
            "created_at": utcnow(),
        }
        await self._collection.insert_one(document, session=session)

    def notify(self) -> None:
        self._wake.set()

    async def flush(self, limit: int = 500) -> int:
        """Publish up to `limit` pending events, oldest first, then delete them; returns how many.

        The publishes go out together (written in order on one connection, acknowledged concurrently) and one
        delete removes the batch: if any publish fails nothing is deleted, and the retry's repeats are dropped by
        the broker's dedup window.
        """
        async with self._lock:
            cursor = self._collection.find({}).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
            pending = await cursor.to_list(length=limit)
            if not pending:
                return 0
            try:
                await asyncio.gather(*(self._publish(d) for d in pending))
            except Exception:
                metrics.OUTBOX_FAILURES.labels(self.service).inc()
                raise
            await self._collection.delete_many({"_id": {"$in": [d["_id"] for d in pending]}})
            return len(pending)

    async def _publish(self, event: Document) -> None:
        subject = str(event["subject"])
        with tracing.publish_span(subject, event.get("trace")):
            await self._bus.publish_raw(subject, bytes(event["payload"]), str(event["_id"]))
        metrics.OUTBOX_PUBLISHED.labels(self.service, subject).inc()
        metrics.OUTBOX_RELAY_SECONDS.labels(self.service).observe(_age(event["created_at"]))

    async def sample_backlog(self) -> None:
        """Refresh the backlog gauges (common.metrics.Sampler calls this)."""
        backlog = await self._collection.count_documents({})
        first = await self._collection.find({}).sort([("created_at", ASCENDING)]).limit(1).to_list(1)
        oldest = first[0] if first else None
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        metrics.OUTBOX_OLDEST_SECONDS.labels(self.service).set(_age(oldest["created_at"]) if oldest else 0.0)

    def start(self, supervisor: Supervisor | None = None) -> None:
        self._wake.set()  # the first sweep runs at once: it publishes what a crash left behind
        self._task = (supervisor or Supervisor()).spawn("outbox-relay", self._run)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()  # a last attempt; whatever is left is swept by the next start

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._sweep_seconds)
            self._wake.clear()
            try:
                while await self.flush(BATCH) == BATCH:  # a full batch: more may be waiting
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay: publish failed; will retry on the next sweep")


def _age(created_at: object) -> float:
    """Seconds since `created_at` (a client without tz_aware reads naive UTC datetimes); 0 if unreadable."""
    if not isinstance(created_at, dt.datetime):
        return 0.0
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)
    return max(0.0, (utcnow() - created_at).total_seconds())
