"""Answers of public reads, kept until a ticket changes: `ticket(id)` and `tickets(...)` answer the same to every
caller, and the gateway hears of every ticket change (the live hub's `ticket.>` subscription), so running the same
document with the same variables again (GraphQL execution, a gRPC call) is only needed after a change.

Dropped (all at once: simple, and a change is rare next to reads) on every ticket event, on every mutation run
through this gateway (read-your-writes before the event arrives), whenever the NATS connection drops or comes back
(events may have been missed), and `ttl` seconds after being stored at the latest. An answer computed while a
change arrived is not stored (the generation moved on); none is stored while NATS is disconnected.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from graphql import OperationType
from strawberry.types import ExecutionResult

from gateway.shared import canonical_json, operation_fields

PUBLIC_QUERY_FIELDS = frozenset({"ticket", "tickets", "__typename"})  # answers that do not depend on who asks
Key = tuple[str, str | None, str]  # document, operation name, variables (canonical JSON)


class ResponseCache:
    def __init__(self, is_live: Callable[[], bool], size: int = 1024, ttl: float = 30.0) -> None:
        self._is_live = is_live
        self._size = size
        self._ttl = ttl
        self._entries: OrderedDict[Key, tuple[float, ExecutionResult]] = OrderedDict()
        self.generation = 0  # moves on at every drop
        self.hits = 0

    def key(self, query: str, operation_name: str | None, variables: dict[str, object] | None) -> Key | None:
        """The entry of a public query, or None (not cacheable)."""
        found = operation_fields(query, operation_name)
        if found is None or found[0] is not OperationType.QUERY or not found[1] <= PUBLIC_QUERY_FIELDS:
            return None
        canonical = canonical_json(variables)
        return None if canonical is None else (query, operation_name, canonical)

    def is_mutation(self, query: str, operation_name: str | None) -> bool:
        found = operation_fields(query, operation_name)
        return found is None or found[0] is OperationType.MUTATION  # unknown: assume it may change something

    def get(self, key: Key) -> ExecutionResult | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self._ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: Key, generation: int, result: ExecutionResult) -> None:
        """Keep `result` (computed from `generation` on) unless something changed meanwhile or it has errors."""
        if result.errors or generation != self.generation or not self._is_live():
            return
        self._entries[key] = (time.monotonic(), result)
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop(self, subject: str = "") -> None:
        """Something may have changed (a ticket event's `subject`, or "" for anything)."""
        if subject.startswith("order."):
            return  # orders change tickets only through ticket events
        self.generation += 1
        self._entries.clear()
