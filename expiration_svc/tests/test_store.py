"""The timer store's Lua scripts against a real redis-server (AOF on)."""

from __future__ import annotations

import asyncio

from common.testing.servers import RunningServer
from expiration_svc.app import connect_redis
from expiration_svc.store import TimerStore

T0 = 1_700_000_000_000  # ms
LEASE = 30_000
FOREVER = 0  # forget no closed order


async def test_a_duplicate_add_collapses_into_one_timer(store: TimerStore) -> None:
    assert await store.add("o1", T0 + 900_000) is True
    assert await store.add("o1", T0 + 900_000) is False
    assert await store.add("o1", T0 + 5) is False  # the first due time stands
    assert await store.due_of("o1") == T0 + 900_000
    assert await store.counts() == (1, 0)


async def test_claim_takes_only_due_timers_under_a_lease(store: TimerStore) -> None:
    await store.add_many([("early", T0 - 1), ("now", T0), ("later", T0 + 1)])
    claim = await store.claim(T0, T0 + LEASE, 10, FOREVER)
    assert sorted(claim.order_ids) == ["early", "now"]
    assert (claim.lease_until, claim.next_timer, claim.next_lease_end) == (T0 + LEASE, T0 + 1, T0 + LEASE)
    assert await store.lease_of("now") == T0 + LEASE
    assert await store.due_of("now") is None
    assert await store.counts() == (1, 2)
    again = await store.claim(T0, T0 + LEASE, 10, FOREVER)
    assert again.order_ids == ()  # held under a live lease: nobody else takes them


async def test_claim_respects_its_limit_oldest_first(store: TimerStore) -> None:
    await store.add_many([(f"o{i}", T0 - 100 + i) for i in range(10)])
    first = await store.claim(T0, T0 + LEASE, 4, FOREVER)
    second = await store.claim(T0, T0 + LEASE, 4, FOREVER)
    third = await store.claim(T0, T0 + LEASE, 4, FOREVER)
    assert first.order_ids == ("o0", "o1", "o2", "o3")
    assert second.order_ids == ("o4", "o5", "o6", "o7")
    assert third.order_ids == ("o8", "o9")


async def test_ack_forgets_the_timer_and_remembers_the_order(store: TimerStore) -> None:
    await store.add("o1", T0)
    claim = await store.claim(T0, T0 + LEASE, 10, FOREVER)
    assert await store.ack(claim.lease_until, claim.order_ids, T0) == 1
    assert await store.counts() == (0, 0)
    assert await store.is_closed("o1")
    assert await store.add("o1", T0) is False  # a redelivered order.created cannot re-arm a fired timer


async def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_ack_it(store: TimerStore) -> None:
    await store.add_many([("o1", T0), ("o2", T0)])
    dead = await store.claim(T0, T0 + LEASE, 10, FOREVER)  # this replica dies without acknowledging
    assert (await store.claim(T0 + LEASE - 1, T0 + 2 * LEASE, 10, FOREVER)).order_ids == ()
    taken = await store.claim(T0 + LEASE, T0 + 2 * LEASE, 10, FOREVER)
    assert sorted(taken.order_ids) == ["o1", "o2"]
    assert taken.lease_until > dead.lease_until
    # The "dead" replica wakes up late: its ack and its give-back touch nothing the new owner holds.
    assert await store.reschedule(dead.lease_until, dead.order_ids, T0) == 0
    assert await store.ack(dead.lease_until, dead.order_ids, T0 + LEASE) == 0
    assert await store.counts() == (0, 2)
    assert await store.ack(taken.lease_until, taken.order_ids, T0 + LEASE) == 2
    assert await store.counts() == (0, 0)


async def test_reschedule_makes_a_claimed_timer_claimable_again_later(store: TimerStore) -> None:
    await store.add("o1", T0)
    claim = await store.claim(T0, T0 + LEASE, 10, FOREVER)
    assert await store.reschedule(claim.lease_until, claim.order_ids, T0 + 1_000) == 1
    assert (await store.claim(T0 + 999, T0 + LEASE, 10, FOREVER)).order_ids == ()
    assert (await store.claim(T0 + 1_000, T0 + 1_000 + LEASE, 10, FOREVER)).order_ids == ("o1",)


async def test_drop_removes_pending_and_claimed_timers_and_blocks_a_late_add(store: TimerStore) -> None:
    await store.add_many([("pending", T0 + 10), ("claimed", T0)])
    claim = await store.claim(T0, T0 + LEASE, 10, FOREVER)
    assert await store.drop("pending", T0) is True
    assert await store.drop("claimed", T0) is True
    assert await store.drop("never-seen", T0) is False  # cancelled before its order.created arrived
    assert await store.counts() == (0, 0)
    assert await store.ack(claim.lease_until, claim.order_ids, T0) == 0
    for order_id in ("pending", "claimed", "never-seen"):
        assert await store.add(order_id, T0) is False
    assert await store.counts() == (0, 0)


async def test_closed_orders_are_forgotten_after_the_tombstone_time(store: TimerStore) -> None:
    await store.drop("old", T0)
    await store.drop("recent", T0 + 10_000)
    await store.claim(T0 + 20_000, T0 + 20_000 + LEASE, 10, forget_closed_before=T0 + 5_000)
    assert not await store.is_closed("old")
    assert await store.is_closed("recent")


async def test_concurrent_claims_from_two_clients_never_share_a_timer(
    store: TimerStore, redis_server: RunningServer
) -> None:
    count = 2_000
    await store.add_many([(f"o{i}", T0 - i) for i in range(count)])
    other_client = connect_redis(redis_server.url)
    other = TimerStore(other_client)

    async def drain(replica: TimerStore) -> list[str]:
        taken: list[str] = []
        while claim := (await replica.claim(T0, T0 + LEASE, 25, FOREVER)).order_ids:
            taken.extend(claim)
        return taken

    try:
        mine, theirs = await asyncio.gather(drain(store), drain(other))
    finally:
        await other_client.aclose()
    assert len(mine) + len(theirs) == count
    assert len(set(mine) | set(theirs)) == count
    assert not set(mine) & set(theirs)
    assert mine and theirs
