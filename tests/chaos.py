"""The chaos run (`make chaos`; a short version in tests/test_chaos.py): many concurrent purchases, cancels and
expiries through the gateway while services are SIGKILLed at random and NATS, Redis, the MongoDB-wire server and
the Stripe emulator are each stopped or frozen (SIGSTOP) for longer than any client timeout (10 s), then
restarted. Afterwards every SPEC "Faults" invariant is checked over the whole stack (tests/audit.py), and every
answer a buyer got is held against the end state (a Payment only for a COMPLETE order, "cancelled" only for a
CANCELLED one).

Seeded: the seed is printed; `CHAOS_SEED=<seed> make chaos` replays the same schedule of faults and choices
(timing on a busy machine still varies). The Stripe emulator is only frozen, never killed: it keeps its state in
memory, and a real Stripe never forgets a charge.

    CHAOS_SEED, CHAOS_SECONDS (fault phase, default 270), CHAOS_BUYERS (16), CHAOS_OUTAGE_SECONDS (30)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from common.devstack import SERVICES, Stack
from payments_svc.domain import CANCELLED_REFUNDED
from tests import audit
from tests.client import Client, GraphQLError
from tests.helpers import gateway_url, running_stack

CREATE_TICKET = "mutation($t: String!, $p: Int!) { createTicket(title: $t, priceCents: $p) { id } }"
CREATE_ORDER = "mutation($id: ID!) { createOrder(ticketId: $id) { id } }"
CANCEL_ORDER = "mutation($id: ID!) { cancelOrder(id: $id) { id status } }"
PAY = "mutation($id: ID!, $pm: String!) { payOrder(orderId: $id, paymentMethod: $pm) { id orderId } }"
WINDOW_SECONDS = 6
# What a buyer may meet while things break: an error answer, the gateway gone, a garbled or non-200 reply.
FAILED = (GraphQLError, httpx.HTTPError, ValueError, AssertionError)
SERVERS = ["nats", "redis", "mongo", "stripe"]
HOW = ("stopped", "frozen")
PROCESSES = [*SERVICES, "gateway"]


@dataclass(frozen=True)
class Config:
    seed: int
    fault_seconds: float  # how long buyers buy and faults happen
    buyers: int
    outage_seconds: float  # each server outage; longer than any client timeout (Stripe, MongoDB, gRPC: 10 s)
    settle_seconds: float = 150.0  # after the faults, how long the stack may take to settle every order


@dataclass
class Report:
    seed: int
    counts: Counter[str] = field(default_factory=Counter)
    claims: dict[str, str] = field(default_factory=dict)  # order id -> what a buyer was told it ends as
    problems: list[str] = field(default_factory=list)
    lies: int = 0
    lost: int = 0
    doubled: int = 0

    def summary(self) -> str:
        c = self.counts
        return (
            f"chaos seed={self.seed}: {c['orders']} orders ({c['complete']} COMPLETE, {c['cancelled']} CANCELLED: "
            f"{c['cancel_answers']} cancelled by the buyer, the rest expired or refused), {c['pay_attempts']} "
            f"purchases tried ({c['paid_answers']} answered paid, {c['refunded_answers']} refunded, "
            f"{c['pay_other']} other answers), {c['order_refused']} orders refused or failed, {c['kills']} SIGKILLs, "
            "outages: "
            + ", ".join(
                f"{name} {how} {c[f'outage_{name}_{how}']}" for name in SERVERS for how in ("stopped", "frozen")
            )
            + f"; {self.lost} lost, {self.doubled} doubled, {self.lies} untrue answers, {len(self.problems)} problems"
        )


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def run(data_dir: Path, config: Config) -> Report:
    rng = random.Random(config.seed)
    report = Report(config.seed)
    say(f"seed {config.seed} (replay: CHAOS_SEED={config.seed})")
    env = {"SWEEP_INTERVAL_SECONDS": "1", "SWEEP_GRACE_SECONDS": "2"}
    with running_stack(data_dir, WINDOW_SECONDS, env) as stack:
        await stack.wait_healthy(timeout=120)
        clients = [Client(gateway_url(stack)) for _ in range(config.buyers + 1)]
        try:
            for client in clients:
                await client.sign_up(f"chaos-{uuid.uuid4().hex[:10]}@example.com")
            market = Market(clients[0], [])
            for _ in range(max(2, config.buyers * 2 // 3)):  # fewer tickets than buyers: they compete for some
                await market.list_one()
            deadline = time.monotonic() + config.fault_seconds
            shoppers = [_shop(buyer, market, random.Random(rng.random()), deadline, report) for buyer in clients[1:]]
            await asyncio.gather(_faults(stack, rng, deadline, config, report), *shoppers)
        finally:
            for client in clients:
                await client.close()
        await _recover(stack)
        await asyncio.sleep(WINDOW_SECONDS)  # the last windows close
        final = await audit.settle(stack, config.settle_seconds)
    _judge(report, final)
    say(report.summary())
    say(f"other answers to payOrder: { {k: v for k, v in report.counts.items() if k.startswith('pay_other_')} }")
    for problem in report.problems[:50]:
        say(f"PROBLEM {problem}")
    return report


@dataclass
class Market:
    """The tickets on sale: a sold one is replaced by a new listing, so buyers never run out."""

    seller: Client
    tickets: list[str]
    listed: int = 0

    async def list_one(self) -> None:
        self.listed += 1
        data = await self.seller.execute(CREATE_TICKET, {"t": f"Chaos {self.listed}", "p": 1000 + self.listed})
        self.tickets.append(str(data["createTicket"]["id"]))

    async def sold(self, ticket_id: str) -> None:
        if ticket_id in self.tickets:
            self.tickets.remove(ticket_id)
            with contextlib.suppress(*FAILED):  # best effort while things break
                await self.list_one()


async def _shop(buyer: Client, market: Market, rng: random.Random, deadline: float, report: Report) -> None:
    """One buyer: order a ticket, then pay (most often), cancel, or let the window close; again until the end."""
    while time.monotonic() < deadline:
        ticket_id = rng.choice(market.tickets)
        try:
            order_id = (await buyer.execute(CREATE_ORDER, {"id": ticket_id}))["createOrder"]["id"]
        except FAILED:
            report.counts["order_refused"] += 1
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            continue
        choice = rng.random()
        await asyncio.sleep(rng.uniform(0, 1.5))
        if choice < 0.6:
            if await _pay(buyer, order_id, report):
                await market.sold(ticket_id)
        elif choice < 0.8:
            await _cancel(buyer, order_id, report)
        else:
            report.counts["left_to_expire"] += 1
            await asyncio.sleep(WINDOW_SECONDS)


async def _pay(buyer: Client, order_id: str, report: Report) -> bool:
    """True when the answer was a Payment."""
    report.counts["pay_attempts"] += 1
    try:
        answer = await buyer.execute(PAY, {"id": order_id, "pm": "pm_card_visa"})
    except GraphQLError as error:
        if error.code == "CONFLICT" and str(error) == CANCELLED_REFUNDED:
            report.counts["refunded_answers"] += 1
            report.claims[order_id] = "CANCELLED"
        else:
            report.counts["pay_other"] += 1
            report.counts[f"pay_other_{error.code or 'error'}"] += 1
        return False
    except FAILED:
        report.counts["pay_other"] += 1
        return False
    assert answer["payOrder"]["orderId"] == order_id
    report.counts["paid_answers"] += 1
    report.claims[order_id] = "COMPLETE"
    return True


async def _cancel(buyer: Client, order_id: str, report: Report) -> None:
    try:
        answer = await buyer.execute(CANCEL_ORDER, {"id": order_id})
    except FAILED:
        report.counts["cancel_other"] += 1
        return
    if answer["cancelOrder"]["status"] == "CANCELLED":
        report.counts["cancel_answers"] += 1
        report.claims[order_id] = "CANCELLED"


async def _faults(stack: Stack, rng: random.Random, deadline: float, config: Config, report: Report) -> None:
    """Each server out once per round (stopped or frozen; Stripe only frozen) in a seeded order, while services
    and the gateway are SIGKILLed at random moments and started again a moment later."""
    kills = asyncio.ensure_future(_kills(stack, rng, deadline, report))
    stopped = {name: rng.random() < 0.5 for name in SERVERS}  # then alternating: both kinds in two rounds
    try:
        while time.monotonic() < deadline:
            for name in rng.sample(SERVERS, len(SERVERS)):
                if time.monotonic() >= deadline:
                    break
                how = "stopped" if stopped[name] and name != "stripe" else "frozen"
                stopped[name] = not stopped[name]
                report.counts[f"outage_{name}_{how}"] += 1
                say(f"{name} {how} for {config.outage_seconds:.0f} s")
                await asyncio.to_thread(stack.server(name).freeze if how == "frozen" else stack.server(name).kill)
                try:
                    await asyncio.sleep(config.outage_seconds)
                finally:
                    if how == "frozen":
                        stack.server(name).thaw()
                    else:
                        await asyncio.to_thread(stack.restart_server_named, name)
                say(f"{name} back")
                await asyncio.sleep(rng.uniform(1, 3))
    finally:
        await kills


async def _kills(stack: Stack, rng: random.Random, deadline: float, report: Report) -> None:
    while time.monotonic() < deadline - 2:
        await asyncio.sleep(rng.uniform(2, 6))
        name = rng.choice(PROCESSES)
        report.counts["kills"] += 1
        say(f"SIGKILL {name}")
        stack.kill(name)
        await asyncio.sleep(rng.uniform(0.5, 3))
        stack.children[name].start()


async def _recover(stack: Stack) -> None:
    """Everything running again (a server that a fault left down, a child that died on its own)."""
    for server in stack.servers:
        server.thaw()
        if server.process.poll() is not None:
            stack.restart_server_named(server.name)
    for child in stack.children.values():
        if child.process is None or child.process.poll() is not None:
            child.start()
    await stack.wait_healthy(timeout=120)


def _judge(report: Report, final: audit.Audit) -> None:
    status = {order["_id"]: order["status"] for order in final.orders}
    report.counts["orders"] = len(final.orders)
    report.counts["complete"] = final.count("COMPLETE")
    report.counts["cancelled"] = final.count("CANCELLED")
    report.problems = list(final.problems)
    for order_id, claimed in report.claims.items():
        if status.get(order_id) != claimed:
            report.lies += 1
            report.problems.append(f"order {order_id}: the buyer was told {claimed}, it is {status.get(order_id)}")
    report.lost, report.doubled = final.lost, final.doubled


def config_from_env(defaults: dict[str, Any]) -> Config:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
    return Config(
        seed=seed,
        fault_seconds=float(os.environ.get("CHAOS_SECONDS", defaults["fault_seconds"])),
        buyers=int(os.environ.get("CHAOS_BUYERS", defaults["buyers"])),
        outage_seconds=float(os.environ.get("CHAOS_OUTAGE_SECONDS", defaults["outage_seconds"])),
    )


def main() -> int:
    config = config_from_env({"fault_seconds": 270, "buyers": 16, "outage_seconds": 30})  # two rounds of outages
    with tempfile.TemporaryDirectory(prefix="chaos-") as data_dir:
        report = asyncio.run(run(Path(data_dir), config))
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
