"""Shared subscription execution: the websocket subscribers of one document with the same variables share ONE
source stream, ONE GraphQL execution and ONE serialized payload per event. Each subscriber keeps its own operation id
(spliced into the graphql-transport-ws `next` frame by the transport, gateway.asgi), its own bounded queue (so its
own order, and a slow client is dropped alone) and its own authorization: only documents whose every root field is
public (`PUBLIC_FIELDS`, the same answer for anyone) are shared; any other (orderStatus: buyer only) runs per
subscriber as before, with its own token checked by the backend on every read.

A subscriber that joins a running group first gets the group's latest payload: the group has listened since before
it first read the entity, so that payload is the entity as it is now ("first the current status, then every change").

Delivery: the group's task offers each event to every member in one loop. A member whose socket can take a frame now
(`Deliver`, gateway.frames) and has nothing queued gets it written there and then, without waking its own task;
otherwise (socket above its high-water mark, or no direct path) the payload waits in the member's bounded queue, read
by its operation's task through the usual send path, and direct writes resume only once that queue is empty, so
each member's order holds. A full queue drops that member alone, as before.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.types.execution import ExecutionResult, PreExecutionError

from gateway.frames import text_frame

log = logging.getLogger(__name__)

PUBLIC_FIELDS = frozenset({"ticketStatus"})  # answers that do not depend on who asks (a ticket's status is public)

Stream = AsyncGenerator[Any, None]  # Strawberry's schema.stream(): ExecutionResult, or a PreExecutionError first
ShareKey = tuple[str, str | None, str]  # document, operation name, variables (canonical JSON)


class End(enum.Enum):
    COMPLETE = "complete"  # the shared stream ended
    DROPPED = "dropped"  # this subscriber fell too far behind


class Payload:
    """One event's `next` payload, serialized once for the whole group: its JSON text (the ASGI send path) and the
    websocket frame last built from it (members of a group often share their operation id, so often their frame)."""

    __slots__ = ("_around", "_data", "_frame", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._data: bytes | None = None
        self._around: tuple[bytes, bytes] | None = None
        self._frame = b""

    def framed(self, prefix: bytes, suffix: bytes) -> bytes:
        """The text frame of `prefix` + this payload + `suffix` (a subscriber's message around the payload)."""
        around = (prefix, suffix)
        if around != self._around:
            if self._data is None:
                self._data = self.text.encode()
            self._frame = text_frame(prefix + self._data + suffix)
            self._around = around
        return self._frame


Item = Payload | PreExecutionError | End
Deliver = Callable[[Payload], bool]  # writes a payload to the subscriber's socket now; False when it cannot


@functools.lru_cache(maxsize=512)
def operation_fields(query: str, operation_name: str | None) -> tuple[OperationType, frozenset[str]] | None:
    """The type and root field names of the operation `query` runs, or None when it is not parsable, not one
    operation, or has fragments or directives at its root (then nothing is shared or cached: Strawberry runs it alone
    and reports any error as usual). Parsed once per document."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1:
        return None
    selections = operations[0].selection_set.selections
    if not all(isinstance(s, FieldNode) and not s.directives for s in selections):
        return None
    return operations[0].operation, frozenset(s.name.value for s in selections if isinstance(s, FieldNode))


def root_fields(query: str, operation_name: str | None) -> frozenset[str] | None:
    """The root fields of a plain subscription, else None."""
    found = operation_fields(query, operation_name)
    return found[1] if found is not None and found[0] is OperationType.SUBSCRIPTION else None


def canonical_json(value: object) -> str | None:
    try:
        return json.dumps(value or {}, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def share_key(query: str, operation_name: str | None, variables: dict[str, object] | None) -> ShareKey | None:
    """The group a subscription joins, or None to run it alone (not a plain subscription of public fields only)."""
    fields = root_fields(query, operation_name)
    if not fields or not fields <= PUBLIC_FIELDS:
        return None
    canonical = canonical_json(variables)
    return None if canonical is None else (query, operation_name, canonical)


class Member:
    """One subscriber of a group: its direct delivery (if any) and a bounded queue of the group's items, read by its
    operation's task."""

    __slots__ = ("_capacity", "_deliver", "_items", "_wake", "group")

    def __init__(self, group: Group, capacity: int, deliver: Deliver | None = None) -> None:
        self.group = group
        self._capacity = capacity
        self._deliver = deliver
        self._items: deque[Item] = deque()  # the head stays until sent(): nothing written directly overtakes it
        self._wake: asyncio.Future[None] | None = None

    def offer(self, item: Item) -> bool:
        """Deliver or queue `item` without waiting; False when this subscriber is (now) dropped for being too slow."""
        if self._items:
            if self._items[-1] in (End.DROPPED, End.COMPLETE):
                return False
        elif self._deliver is not None and isinstance(item, Payload) and self._deliver(item):
            return True
        if len(self._items) >= self._capacity and not isinstance(item, End):
            self._items.clear()
            item = End.DROPPED
        self._items.append(item)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        return item is not End.DROPPED

    async def next(self) -> Item:
        """The oldest item not yet sent; it stays queued until `sent()`. An `End` stays for good (every later call
        returns it again)."""
        while not self._items:
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
        return self._items[0]

    def sent(self) -> None:
        """The item `next()` returned is handled."""
        if self._items and not isinstance(self._items[0], End):
            self._items.popleft()


class Group:
    """One shared execution and its subscribers."""

    def __init__(
        self, registry: SharedSubscriptions, key: ShareKey, start: Callable[[], Awaitable[Stream]],
        encode: Callable[[ExecutionResult], str],
    ) -> None:  # fmt: skip
        self.key = key
        self.members: dict[Member, None] = {}  # in the order they joined, which is the order they are served
        self.latest: Item | None = None  # for subscribers who join later
        self._registry = registry
        self._encode = encode
        self.task = asyncio.create_task(self._run(start), name="gateway:shared-subscription")

    async def _run(self, start: Callable[[], Awaitable[Stream]]) -> None:
        try:
            source = await start()
            try:
                async for result in source:
                    if isinstance(result, ExecutionResult):
                        item: Item = Payload(self._encode(result))
                    elif isinstance(result, PreExecutionError):
                        item = result  # each subscriber reports it as Strawberry would
                    else:
                        continue  # incremental delivery: our schema enables no @defer/@stream
                    self.latest = item
                    self._offer(item)
            finally:
                await source.aclose()
        except Exception:
            log.exception("a shared subscription failed")  # its subscribers get `complete`
        finally:
            self._registry.forget(self)
            self._offer(End.COMPLETE)

    def _offer(self, item: Item) -> None:
        for member in list(self.members):
            if not member.offer(item):
                log.warning("dropping a slow subscriber")
                self.members.pop(member, None)  # the others are not held up
                self._registry.dropped += 1


class SharedSubscriptions:
    """The groups of one gateway process, by ShareKey."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._groups: dict[ShareKey, Group] = {}
        self.dropped = 0

    @property
    def group_count(self) -> int:
        return len(self._groups)

    @property
    def member_count(self) -> int:
        return sum(len(group.members) for group in self._groups.values())

    def join(
        self, key: ShareKey, start: Callable[[], Awaitable[Stream]], encode: Callable[[ExecutionResult], str],
        deliver: Deliver | None = None,
    ) -> Member:  # fmt: skip
        """A subscriber of the group `key`, which starts (with `start()` as its one stream) if it is not running.
        `deliver`: how to write a payload to the subscriber's socket at once, when it can."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(self, key, start, encode)
        member = Member(group, self._queue_size, deliver)
        if group.latest is not None:
            member.offer(group.latest)
        group.members[member] = None
        return member

    def leave(self, member: Member) -> None:
        """Unregister `member`; the last one to leave stops the group's stream."""
        group = member.group
        group.members.pop(member, None)
        if not group.members:
            self.forget(group)
            group.task.cancel()

    def forget(self, group: Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
