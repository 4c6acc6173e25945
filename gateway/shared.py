"""Shared subscription execution: the websocket subscribers of one document with the same variables share ONE
source stream, ONE GraphQL execution and ONE serialized payload per event. Each subscriber keeps its own operation id
(spliced into the graphql-transport-ws `next` frame by the transport, gateway.asgi), its own bounded queue (so its
own order, and a slow client is dropped alone) and its own authorization: only documents whose every root field is
public (`PUBLIC_FIELDS`, the same answer for anyone) are shared; any other (orderStatus: buyer only) runs per
subscriber as before, with its own token checked by the backend on every read.

A subscriber that joins a running group first gets the group's latest payload: the group has listened since before
it first read the entity, so that payload is the entity as it is now ("first the current status, then every change").
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

log = logging.getLogger(__name__)

PUBLIC_FIELDS = frozenset({"ticketStatus"})  # answers that do not depend on who asks (a ticket's status is public)

Stream = AsyncGenerator[Any, None]  # Strawberry's schema.stream(): ExecutionResult, or a PreExecutionError first
ShareKey = tuple[str, str | None, str]  # document, operation name, variables (canonical JSON)


class End(enum.Enum):
    COMPLETE = "complete"  # the shared stream ended
    DROPPED = "dropped"  # this subscriber fell too far behind


Item = str | PreExecutionError | End  # str: the JSON `payload` of a `next` frame, serialized once for the group


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
    """One subscriber of a group: a bounded queue of the group's items, read by its operation's task."""

    __slots__ = ("_capacity", "_items", "_wake", "group")

    def __init__(self, group: Group, capacity: int) -> None:
        self.group = group
        self._capacity = capacity
        self._items: deque[Item] = deque()
        self._wake: asyncio.Future[None] | None = None

    def offer(self, item: Item) -> bool:
        """Queue `item` without waiting; False when this subscriber is (now) dropped for being too slow."""
        if self._items and self._items[-1] in (End.DROPPED, End.COMPLETE):
            return False
        if len(self._items) >= self._capacity and not isinstance(item, End):
            self._items.clear()
            item = End.DROPPED
        self._items.append(item)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        return item is not End.DROPPED

    async def next(self) -> Item:
        """The next item; an `End` stays (every later call returns it again)."""
        while not self._items:
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
        item = self._items[0]
        if not isinstance(item, End):
            self._items.popleft()
        return item


class Group:
    """One shared execution and its subscribers."""

    def __init__(
        self, registry: SharedSubscriptions, key: ShareKey, start: Callable[[], Awaitable[Stream]],
        encode: Callable[[ExecutionResult], str],
    ) -> None:  # fmt: skip
        self.key = key
        self.members: set[Member] = set()
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
                        item: Item = self._encode(result)
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
                self.members.discard(member)  # the others are not held up
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
        self, key: ShareKey, start: Callable[[], Awaitable[Stream]], encode: Callable[[ExecutionResult], str]
    ) -> Member:
        """A subscriber of the group `key`, which starts (with `start()` as its one stream) if it is not running."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(self, key, start, encode)
        member = Member(group, self._queue_size)
        if group.latest is not None:
            member.offer(group.latest)
        group.members.add(member)
        return member

    def leave(self, member: Member) -> None:
        """Unregister `member`; the last one to leave stops the group's stream."""
        group = member.group
        group.members.discard(member)
        if not group.members:
            self.forget(group)
            group.task.cancel()

    def forget(self, group: Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
