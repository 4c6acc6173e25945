"""Timer storage in Redis, the only module that knows the key layout. Every change is one Lua script (atomic).

Keys (one hash tag, so the scripts also run on a Redis Cluster):
  {prefix}:timers   sorted set  order id -> due time (ms)            pending timers
  {prefix}:claimed  sorted set  order id -> lease end (ms)           taken by a replica, not yet acknowledged
  {prefix}:closed   sorted set  order id -> closed at (ms)           fired or dropped: a late order.created is ignored

A timer lives in exactly one of `timers` / `claimed` until it is acknowledged or dropped, then it is remembered in
`closed` for a while (so a redelivered order.created cannot re-arm it). A claim moves due timers from `timers` to
`claimed` and also takes over claims whose lease ran out (a replica that died mid-fire), so a timer is never lost:
it fires at least once, and exactly once while replicas finish within their lease.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis

from expiration_svc.domain import Claim, parse_score

# KEYS: timers, claimed, closed. ARGV: due_ms, order_id. -> 1 added, 0 already known (pending, claimed or closed).
_ADD = """
if redis.call('ZSCORE', KEYS[3], ARGV[2]) then return 0 end
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
return redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2])
"""

# KEYS: timers, claimed, closed. ARGV: now_ms, order_id. -> 1 when a timer (pending or claimed) was removed.
_DROP = """
local removed = redis.call('ZREM', KEYS[1], ARGV[2]) + redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
return removed
"""

# KEYS: timers, claimed, closed. ARGV: now_ms, lease_until_ms, limit, forget_closed_before_ms.
# -> {next timer score or nil, next lease end or nil, {claimed order ids}}
_CLAIM = """
local now, lease, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[4])
local taken = {}
local expired = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  redis.call('ZADD', KEYS[2], 'XX', lease, id)
  taken[#taken + 1] = id
end
if #taken < limit then
  local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit - #taken)
  for _, id in ipairs(due) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], lease, id)
    taken[#taken + 1] = id
  end
end
local next_timer = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or false
local next_lease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or false
return {next_timer, next_lease, taken}
"""

# KEYS: claimed, closed. ARGV: lease_until_ms, now_ms, order ids...
# Removes the ids still held under this lease and remembers every id as closed. -> how many were still held.
_ACK = """
local lease = tonumber(ARGV[1])
local held = 0
for i = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == lease then
    redis.call('ZREM', KEYS[1], ARGV[i])
    held = held + 1
  end
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i])
end
return held
"""

# KEYS: claimed. ARGV: lease_until_ms, retry_at_ms, order ids...
# Ids still held under this lease become claimable again at retry_at (a failed publish, or a replica stopping).
_RESCHEDULE = """
local lease = tonumber(ARGV[1])
local moved = 0
for i = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == lease then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[i])
    moved = moved + 1
  end
end
return moved
"""

ADD_CHUNK = 1000


class TimerStore:
    def __init__(self, redis: Redis, prefix: str = "expiration") -> None:
        self._redis = redis
        tag = f"{{{prefix}}}"
        self.timers_key, self.claimed_key, self.closed_key = f"{tag}:timers", f"{tag}:claimed", f"{tag}:closed"
        self._keys = [self.timers_key, self.claimed_key, self.closed_key]
        self._add = redis.register_script(_ADD)
        self._drop = redis.register_script(_DROP)
        self._claim = redis.register_script(_CLAIM)
        self._ack = redis.register_script(_ACK)
        self._reschedule = redis.register_script(_RESCHEDULE)

    async def add(self, order_id: str, due: int) -> bool:
        """Start the timer of `order_id`, due at `due` (ms). False when the order already has one or is closed."""
        return int(await self._add(keys=self._keys, args=[due, order_id])) == 1

    async def add_many(self, timers: Iterable[tuple[str, int]]) -> int:
        """`add` for many timers, pipelined; returns how many were new."""
        added = 0
        batch: list[tuple[str, int]] = []
        for timer in timers:
            batch.append(timer)
            if len(batch) == ADD_CHUNK:
                added += await self._add_batch(batch)
                batch = []
        if batch:
            added += await self._add_batch(batch)
        return added

    async def _add_batch(self, batch: Sequence[tuple[str, int]]) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            for order_id, due in batch:
                await self._add(keys=self._keys, args=[due, order_id], client=pipe)
            results: list[Any] = await pipe.execute()
        return sum(int(r) for r in results)

    async def drop(self, order_id: str, now: int) -> bool:
        """Stop the timer of `order_id` (pending or claimed) and remember the order as closed."""
        return int(await self._drop(keys=self._keys, args=[now, order_id])) > 0

    async def claim(self, now: int, lease_until: int, limit: int, forget_closed_before: int) -> Claim:
        """Take up to `limit` claimable timers (leases run out first, then due timers) under a lease ending at
        `lease_until`, atomically: two replicas never take the same timer at once."""
        next_timer, next_lease, taken = await self._claim(
            keys=self._keys, args=[now, lease_until, limit, forget_closed_before]
        )
        return Claim(lease_until, tuple(str(t) for t in taken), parse_score(next_timer), parse_score(next_lease))

    async def ack(self, claim_lease: int, order_ids: Sequence[str], now: int) -> int:
        """The timers of `order_ids` fired: forget them (those still held under `claim_lease`)."""
        if not order_ids:
            return 0
        return int(await self._ack(keys=[self.claimed_key, self.closed_key], args=[claim_lease, now, *order_ids]))

    async def reschedule(self, claim_lease: int, order_ids: Sequence[str], retry_at: int) -> int:
        """Give back timers still held under `claim_lease`: any replica may claim them again from `retry_at`."""
        if not order_ids:
            return 0
        return int(await self._reschedule(keys=[self.claimed_key], args=[claim_lease, retry_at, *order_ids]))

    # --- reads, for operators and tests ---

    async def due_of(self, order_id: str) -> int | None:
        """The due time of a pending (unclaimed) timer."""
        return parse_score(await self._redis.zscore(self.timers_key, order_id))

    async def lease_of(self, order_id: str) -> int | None:
        """The lease end of a claimed, not yet acknowledged timer."""
        return parse_score(await self._redis.zscore(self.claimed_key, order_id))

    async def is_closed(self, order_id: str) -> bool:
        return await self._redis.zscore(self.closed_key, order_id) is not None

    async def overdue(self, due_before: int) -> int:
        """Timers due before `due_before` (ms) and not fired: pending ones, and claims whose lease ran out."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcount(self.timers_key, "-inf", f"({due_before}")
            pipe.zcount(self.claimed_key, "-inf", f"({due_before}")
            pending, claimed = await pipe.execute()
        return int(pending) + int(claimed)

    async def counts(self) -> tuple[int, int]:
        """(pending, claimed) timers."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.timers_key)
            pipe.zcard(self.claimed_key)
            pending, claimed = await pipe.execute()
        return int(pending), int(claimed)
