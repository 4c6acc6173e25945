"""The benchmark conductor: starts the stack (tests.helpers.start_stack), drives the load-generator process
(tests/bench/worker.py) through every scenario, measures who used the CPU meanwhile, and writes the report.

The conductor itself only waits while a measurement runs (it reads /proc before and after), so the machine's two
cores are shared by the load generator and the system under test alone (plus whatever else runs on the machine,
which the report shows as `others`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats

from common.devstack import Child, Stack
from common.testing import servers
from tests.bench import overhead, peer, report
from tests.bench.procs import CpuMeter, machine_facts, rss_kib
from tests.client import Client
from tests.helpers import TICKET, list_ticket, new_user, start_stack

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "BENCHMARKS.md"
LISTING_20 = "{ tickets(first: 20) { edges { node { id title priceCents status } } pageInfo { hasNextPage } } }"
TYPENAME = "{ __typename }"
SERVICES = ["auth_svc", "tickets_svc", "orders_svc", "payments_svc", "expiration_svc", "gateway"]


@dataclass
class Plan:
    """How much of everything; `--quick` shrinks it for a smoke run (figures then are not for the record)."""

    reps: int = 3
    concurrency: int = 16
    warmup: float = 1.0
    duration: float = 4.0
    max_requests: int = 200_000
    orders: int = 120
    broker_messages: int = 2000
    subscribers: int = 1000
    changes: int = 20
    spread_tickets: int = 1000  # scenario 3b: subscriptions spread over many tickets
    spread_connections: int = 1000
    spread_per_connection: int = 10
    spread_rounds: int = 5
    timers: int = 100_000
    timer_lead: float = 5.0  # scenario 4: the first timer is due this long after they start being written
    timer_rate: float = 1000.0  # 4, spread: timers due per second (100,000 over 100 s)
    timer_window: float = 10.0  # 4, spread: the first seconds of it measured (100,000 pending at the start)

    @classmethod
    def quick(cls) -> Plan:
        return cls(reps=1, duration=2.0, orders=30, broker_messages=500, subscribers=100, changes=5, timers=10_000,
                   timer_lead=3.0, timer_window=3.0, spread_tickets=50, spread_connections=100, spread_per_connection=5,
                   spread_rounds=2)  # fmt: skip


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


class Worker:
    """The load-generator process and its one-line JSON protocol."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bench.worker", cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**24,
        )  # fmt: skip
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def call(self, op: str, limit: float, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps({"op": op, "args": args}) + "\n").encode())
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), limit)
        if not line:
            raise RuntimeError(f"the load generator exited during {op}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"{op} failed in the load generator: {answer['error']}\n{answer.get('trace', '')}")
        return answer["result"]

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class Bench:
    plan: Plan
    stack: Stack
    worker: Worker
    data_dir: Path
    results: dict[str, Any] = field(default_factory=dict)
    extra_servers: list[servers.RunningServer] = field(default_factory=list)
    extra_children: list[Child] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    profile_dir: Path = Path("/tmp/ticketstore-bench-profile")
    names_by_pid: dict[int, str] = field(default_factory=dict)  # every process started, for --probe's summary
    own_env: dict[str, dict[str, str]] = field(default_factory=dict)  # each stack process's env, as it started
    before: Path | None = None  # a checkout of the code before a change: its gateway is measured beside ours
    peer: bool = True  # Hive Gateway beside ours in the reads

    # --- processes ---

    def pids(self) -> dict[str, list[int]]:
        """Every process that may use CPU during a measurement, by name (report.CPU_GROUPS sums them up)."""
        groups = {"load": [self.worker.pid]}
        groups.update({name: [_pid(child)] for name, child in self.stack.children.items()})
        groups.update({server.name: [server.process.pid] for server in self.stack.servers})
        if self.extra_servers:
            groups["bench extras"] = [s.process.pid for s in self.extra_servers]
        for child in self.extra_children:  # each by name: a gateway's CPU per request needs its own figure
            groups[child.name] = [_pid(child), *child_pids(_pid(child))]
        return groups

    async def measure(self, op: str, limit: float, **args: Any) -> dict[str, Any]:
        """One worker command, with the CPU each process group used while it ran."""
        meter = CpuMeter(self.pids())
        meter.start()
        result = await self.worker.call(op, limit, **args)
        result["cpu"] = {name: round(cores, 2) for name, cores in meter.stop().items()}
        return result

    def start_child(self, name: str, module: str, env: dict[str, str], tree: Path | None = None) -> Child:
        """`python -m module` with the stack's environment; from another checkout (its own venv) if `tree`."""
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        argv = tree_argv(module, tree)
        if name in self.profile:
            argv[1:1] = ["-m", "cProfile", "-o", str(profile_path(self.profile_dir, name))]
        return self.start_argv(name, argv, {**self.stack.service_env(), **env})

    def start_argv(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        child = Child(name, argv, env, logs / f"{name}.log")
        child.start()
        self.names_by_pid[_pid(child)] = name
        self.extra_children.append(child)
        return child

    def stop_extras(self) -> None:
        for child in self.extra_children:
            child.stop()
        self.extra_children.clear()
        for server in self.extra_servers:
            server.stop()
        self.extra_servers.clear()

    # --- set-up: users and tickets, through the gateway as the e2e tests do ---

    async def setup(self, clients: list[Client]) -> None:
        self.seller = await new_user(self.stack, clients, "bench-seller")
        # One buyer per order in flight: two concurrent orders of one buyer race for its next order slot and one
        # retries (orders_svc.store), which made orders/s measure that race more than the path.
        buyers = max(4, self.plan.concurrency)
        self.buyers = [await new_user(self.stack, clients, f"bench-buyer{i}") for i in range(buyers)]
        self.read_ids = [await list_ticket(self.seller, f"Read gig {i}") for i in range(20)]
        for ticket_id in self.read_ids:
            await self.seller.execute(TICKET, {"id": ticket_id})

    async def create_tickets(self, count: int, title: str = "Purchase gig") -> list[str]:
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> str:
            async with gate:
                return await list_ticket(self.seller, f"{title} {i}")

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def orders_caught_up(self, timeout: float = 120) -> None:
        """Wait (bounded) until orders_svc has consumed every ticket event: it can sell every ticket listed."""
        client = await nats.connect(self.stack.nats_admin_url, name="bench-probe")
        try:
            deadline = time.monotonic() + timeout
            while True:
                info = await client.jetstream().consumer_info("TICKETS", "orders_svc")
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"orders_svc still has {info.num_pending} ticket events pending")
                await asyncio.sleep(0.2)
        finally:
            await client.close()

    # --- scenarios ---

    async def idle_memory(self) -> None:
        say("5. idle memory (RSS) of every service process")
        running: dict[str, list[float]] = {name: [] for name in SERVICES}
        for _ in range(self.plan.reps):
            for name in SERVICES:
                running[name].append(rss_kib(_pid(self.stack.children[name])) / 1024)
            await asyncio.sleep(0.5)
        floor: dict[str, list[float]] = {name: [] for name in SERVICES}
        for _ in range(self.plan.reps):
            for name in SERVICES:
                floor[name].append(import_only_rss(f"{name}.app") / 1024)
        infra = {s.name: rss_kib(s.process.pid) / 1024 for s in self.stack.servers}
        self.results["memory"] = {"running_mib": running, "imported_mib": floor, "servers_mib": infra}

    async def reads(self) -> None:
        say("1. gateway reads vs direct gRPC vs bare Strawberry (and the peer, and the code before, when present)")
        bare_port = servers.free_port()
        live_nats = servers.start_nats(self.data_dir / "bare-nats")
        self.extra_servers.append(live_nats)
        nats_admin = live_nats.admin_url  # the bench's processes are not what it measures the permissions of
        self.start_child("bare-strawberry", "tests.bench.bare_app",
                         {"GATEWAY_PORT": str(bare_port), "NATS_URL": nats_admin})  # fmt: skip
        waits = [bare_port]
        plan = self.plan
        gw_port = self.stack.ports["gateway"]
        tickets_target = f"127.0.0.1:{self.stack.ports['tickets_svc']}"
        get_bodies = [{"query": TICKET, "variables": {"id": i}} for i in self.read_ids]
        load = {"concurrency": plan.concurrency, "warmup": plan.warmup, "duration": plan.duration,
                "max_requests": plan.max_requests}  # fmt: skip
        timeout = plan.warmup + plan.duration + 60

        def http(port: int, bodies: list[dict[str, Any]]) -> Callable[[], Any]:
            return lambda: self.measure("http_load", timeout, port=port, bodies=bodies, **load)

        cases: dict[str, Callable[[], Any]] = {
            "gateway ticket(id)": http(gw_port, get_bodies),
            "grpc GetTicket": lambda: self.measure("grpc_load", timeout, target=tickets_target, method="get",
                                                   ids=self.read_ids, page_size=20, **load),
            "gateway tickets(first: 20)": http(gw_port, [{"query": LISTING_20}]),
            "grpc ListTickets(20)": lambda: self.measure("grpc_load", timeout, target=tickets_target, method="list",
                                                         ids=self.read_ids, page_size=20, **load),
            "bare { __typename }": http(bare_port, [{"query": TYPENAME}]),
        }  # fmt: skip
        if self.before is not None:  # the same reads on the code before the change, same backends
            before_port = servers.free_port()
            self.start_child("before-gateway", "gateway", {"GATEWAY_PORT": str(before_port),
                                                           "NATS_URL": nats_admin}, tree=self.before)  # fmt: skip
            waits.append(before_port)
            cases["before ticket(id)"] = http(before_port, get_bodies)
            cases["before tickets(first: 20)"] = http(before_port, [{"query": LISTING_20}])
        # The same read not answered from the response cache, on one tickets_svc and on two replicas behind one
        # target (round robin), each through its own gateway process.
        replica_port = servers.free_port()
        self.start_child("tickets-replica", "tickets_svc", {"GRPC_PORT": str(replica_port)})
        for name, target in (
            ("uncached", tickets_target),
            ("2 replicas", f"{tickets_target},127.0.0.1:{replica_port}"),
        ):
            port = servers.free_port()
            self.start_child(
                f"gateway {name}",
                "gateway",
                {
                    "GATEWAY_PORT": str(port),
                    "NATS_URL": nats_admin,
                    "TICKETS_GRPC_TARGET": target,
                    "RESPONSE_CACHE_SIZE": "0",
                },
            )
            waits.append(port)
            cases[f"{name} ticket(id)"] = http(port, get_bodies)
            if name == "uncached":
                cases["uncached tickets(first: 20)"] = http(port, [{"query": LISTING_20}])
        why_not = peer.available() if self.peer else "not asked for"
        if why_not is None:
            hive_port = servers.free_port()
            supergraph = self.data_dir / "supergraph.graphql"
            peer.compose(tickets_target, supergraph)
            self.start_argv("hive-gateway", peer.argv(supergraph, hive_port), peer.env())
            await wait_http(hive_port, path="/healthcheck")
            cases["hive ticket(id)"] = http(hive_port, peer.get_bodies(self.read_ids))
            cases["hive tickets(first: 20)"] = http(hive_port, [{"query": peer.LIST_20}])
        else:
            say(f"   (no peer gateway: {why_not})")
        for port in waits:
            await wait_http(port)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
        idle: dict[str, float] = {}
        try:
            for name, case in cases.items():  # freshly started gateways: first requests plan, connect, compile
                if name.startswith(("before ", "hive ", "uncached ", "2 replicas ")):
                    await case()
            for name, pid in self.pids().items():  # idle memory of the gateways, before any load
                if name in ("hive-gateway", "before-gateway", "gateway"):
                    idle[name] = sum(rss_kib(p) for p in pid) / 1024
            for rep in range(plan.reps):  # interleaved, so drift on a shared machine hits every case alike
                for name, case in cases.items():
                    result = await case()
                    say(f"   rep {rep + 1} {name}: {result['rps']} req/s p50 {result['p50_ms']} ms "
                        f"p99 {result['p99_ms']} ms errors {result['errors']} {result.get('sample_error', '')[:200]} "
                        f"cpu {result['cpu']}")  # fmt: skip
                    runs[name].append(result)
        finally:
            self.stop_extras()
        self.results["reads"] = runs
        self.results["gateways_idle_mib"] = idle

    async def purchase(self, ticket_ids: list[str]) -> None:
        """Ours, and with `--before` the code before too: the whole stack's processes restarted from the other tree
        on the same servers and data, alternating (ours, before, before, ours, ...), each warmed up first. Each
        tree buys tickets it listed itself: the two may store a ticket differently (the code before cannot read
        the documents ours writes), so the before's are listed through its own gateway once it runs."""
        say("2. purchase path (createOrder -> ticket RESERVED) vs raw JetStream publish-and-consume"
            + (" (and the code before, alternating)" if self.before is not None else ""))  # fmt: skip
        plan = self.plan
        tokens = [b.token for b in self.buyers if b.token]
        nats_url = self.stack.nats_admin_url
        gw_port = self.stack.ports["gateway"]
        unsold: dict[Path | None, list[str]] = {None: list(ticket_ids)}
        if self.before is not None:
            unsold[self.before] = []

        async def take(tree: Path | None, count: int) -> list[str]:
            pool = unsold[tree]
            if len(pool) < count:  # only the code before lists its own, after its restart (not measured)
                pool += await self.create_tickets(count - len(pool), title="Purchase gig (before)")
                await self.orders_caught_up()
            batch, unsold[tree] = pool[:count], pool[count:]
            return batch

        trees: list[tuple[str, Path | None]] = [("purchase", None)]
        if self.before is not None:
            trees.append(("before purchase", self.before))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*(n for n, _ in trees), "broker"]}
        running: Path | None = None
        warmed = False
        for rep in range(plan.reps):
            for name, tree in trees if rep % 2 == 0 else trees[::-1]:
                if tree != running:
                    await self.restart_stack_from(tree)
                    running, warmed = tree, False
                if not warmed:  # freshly started processes: first requests connect, plan, compile
                    await self.worker.call("purchase", 120, gateway_port=gw_port, nats_url=nats_url, tokens=tokens,
                                           ticket_ids=await take(tree, plan.concurrency), concurrency=plan.concurrency,
                                           timeout=30)  # fmt: skip
                    warmed = True
                result = await self.measure("purchase", 300, gateway_port=gw_port, nats_url=nats_url, tokens=tokens,
                                            ticket_ids=await take(tree, plan.orders), concurrency=plan.concurrency,
                                            timeout=30)  # fmt: skip
                say(f"   rep {rep + 1} {name}: {result['per_s']} orders/s propagation p50 {result['prop_p50_ms']} ms "
                    f"p99 {result['prop_p99_ms']} ms (hop 2 p50 {result['hop2_p50_ms']} ms) errors "
                    f"{result['errors']} {result['sample_error'][:200]} cpu {result['cpu']}")  # fmt: skip
                runs[name].append(result)
            result = await self.measure("broker", 120, nats_url=nats_url, count=plan.broker_messages,
                                        concurrency=plan.concurrency, timeout=60)  # fmt: skip
            say(f"   rep {rep + 1} broker: {result['per_s']} msg/s p50 {result['prop_p50_ms']} ms "
                f"p99 {result['prop_p99_ms']} ms cpu {result['cpu']}")  # fmt: skip
            runs["broker"].append(result)
        if running is not None:
            await self.restart_stack_from(None)  # the scenarios after this one measure ours
        self.results["purchase"] = runs

    async def restart_stack_from(self, tree: Path | None) -> None:
        """Every service and the gateway stopped and started again from `tree` (None: this checkout), on the same
        servers, data and ports."""
        say(f"   restarting the services from {tree or 'this checkout'}")
        for name, child in self.stack.children.items():
            child.stop()
            child.argv = tree_argv(name, tree)
            # The code before may predate the per-process NATS users (common.natsauth): it runs as admin.
            own = self.own_env.setdefault(name, dict(child.env))
            child.env = own if tree is None else {**own, "NATS_URL": self.stack.nats_admin_url}
        for child in self.stack.children.values():
            child.start()
            self.names_by_pid[_pid(child)] = child.name
        await self.stack.wait_healthy(timeout=120)
        await self.orders_caught_up()

    async def live(self) -> None:
        plan = self.plan
        say(f"3. live status: {plan.subscribers} websocket subscribers on one ticket, then "
            f"{plan.spread_connections * plan.spread_per_connection} over {plan.spread_tickets} tickets, "
            "vs the hub in-process")  # fmt: skip
        live_nats = servers.start_nats(self.data_dir / "live-nats")
        nats_admin = live_nats.admin_url
        self.extra_servers.append(live_nats)
        # Second gateways, identical but for their NATS: the synthetic ticket.updated events they fan out must not
        # reach the TICKETS stream (orders_svc would consume them). Ours, and the code before when given.
        gateways: dict[str, Child] = {}
        ports: dict[str, int] = {}
        for name, tree in (("live-gateway", None), ("live-before", self.before)):
            if name == "live-before" and tree is None:
                continue
            ports[name] = servers.free_port()
            gateways[name] = self.start_child(name, "gateway", {"GATEWAY_PORT": str(ports[name]),
                                                                "NATS_URL": nats_admin}, tree=tree)  # fmt: skip
        for port in ports.values():
            await wait_http(port)
        ticket_id = await list_ticket(self.seller, "Fan-out gig")
        base = (await self.seller.execute(TICKET, {"id": ticket_id}))["ticket"]["version"]
        timeout = 60.0
        result: dict[str, Any] = {name: {"runs": []} for name in gateways}
        try:
            for rep in range(plan.reps):  # alternating gateways, one run each per round
                for name, child in gateways.items():
                    ws = await self.measure("ws_fanout_raw", 600, port=ports[name], nats_url=nats_admin,
                                            ticket_id=ticket_id, base_version=base, subscribers=plan.subscribers,
                                            changes=plan.changes, reps=1, timeout=timeout,
                                            gateway_pid=_pid(child))  # fmt: skip
                    run = {**ws["runs"][0], "connect_s": ws["connect_s"], "cpu": ws["cpu"]}
                    say(f"   rep {rep + 1} {name}: {run['per_s']} deliveries/s p50 {run['p50_ms']} ms "
                        f"p99 {run['p99_ms']} ms, {run['gateway_us_per_delivery']} gateway µs/delivery "
                        f"(opened in {ws['connect_s']} s; cpu {ws['cpu']})")  # fmt: skip
                    result[name]["runs"].append(run)
            hub = await self.measure("hub_fanout", 300, nats_url=nats_admin, subscribers=plan.subscribers,
                                     changes=plan.changes, reps=plan.reps, timeout=timeout)  # fmt: skip
            for run in hub["runs"]:
                say(f"   hub in-process: {run['per_s']} deliveries/s p50 {run['p50_ms']} ms p99 {run['p99_ms']} ms")
            result["hub"] = hub

            say(f"   creating {plan.spread_tickets} tickets for the spread scenario")
            spread_ids = await self.create_tickets(plan.spread_tickets, "Spread gig")
            spread = {"connections": plan.spread_connections, "per_connection": plan.spread_per_connection,
                      "rounds": 1, "timeout": timeout}  # fmt: skip
            # Ours only: a new scenario (the code before opens 10,000 executions, each with its own backend read).
            spread_gateways = {"live-gateway": gateways["live-gateway"]}
            for name in spread_gateways:
                result[f"{name} spread"] = {"runs": []}
            for rep in range(plan.reps):
                for name, child in spread_gateways.items():
                    # Versions start at the tickets' real one (0): the synthetic events never reach tickets_svc.
                    ws = await self.measure("ws_spread", 900, port=ports[name], nats_url=nats_admin,
                                            ticket_ids=spread_ids, base_versions=[0] * len(spread_ids),
                                            gateway_pid=_pid(child), **{**spread, "rounds": plan.spread_rounds}
                                            )  # fmt: skip
                    runs = ws["runs"]
                    say(f"   rep {rep + 1} {name} spread: " + ", ".join(
                        f"{r['per_s']} deliveries/s p99 {r['p99_ms']} ms {r['gateway_us_per_delivery']} µs"
                        for r in runs) + f" (opened in {ws['connect_s']} s)")  # fmt: skip
                    result[f"{name} spread"]["runs"].extend(runs)
            hub_spread = await self.measure("hub_spread", 300, nats_url=nats_admin, tickets=plan.spread_tickets,
                                            subscriptions=plan.spread_connections * plan.spread_per_connection,
                                            rounds=plan.spread_rounds * plan.reps, timeout=timeout)  # fmt: skip
            for run in hub_spread["runs"]:
                say(f"   hub spread: {run['per_s']} deliveries/s p99 {run['p99_ms']} ms")
            result["hub spread"] = hub_spread
        finally:
            self.stop_extras()
        self.results["live"] = result

    async def expiration(self) -> None:
        plan = self.plan
        say(f"4. expiration: {plan.timers:,} pending timers in a running expiration_svc, due at once and spread "
            f"({plan.timer_rate:,.0f} due per second)")  # fmt: skip
        redis = servers.start_redis(self.data_dir / "timers-redis")
        broker = servers.start_nats(self.data_dir / "timers-nats")
        broker_admin = broker.admin_url
        self.extra_servers += [redis, broker]
        trees = [("", None)] + ([("before ", self.before)] if self.before is not None else [])
        cases = {"timers": (0.0, 0.0), "spread": (plan.timers / plan.timer_rate, plan.timer_window)}
        runs: dict[str, list[dict[str, Any]]] = {f"{label}{case}": [] for label, _ in trees for case in cases}
        runs |= {"raw_publish": [], "zset": []}
        try:
            for rep in range(plan.reps):
                for label, tree in trees:  # the code before and ours alternate, on the same servers
                    for case, (span, window) in cases.items():
                        result = await self.service_timers(tree, redis.url, broker_admin, span, window)
                        say(
                            f"   rep {rep + 1} {label}{case}: lateness p50 {result['lateness_p50_ms']} ms p99 "
                            f"{result['lateness_p99_ms']} ms max {result['lateness_max_ms']} ms, {result['fired']:,}"
                            f" of {result['measured']:,} fired, {result['fire_per_s']} fired/s, expiration_svc "
                            f"{result['service_cores']} cores (added in {result['add_s']} s, {result['margin_s']} s "
                            f"before the first was due)"
                        )  # fmt: skip
                        runs[f"{label}{case}"].append(result)
                result = await self.measure("raw_publish", 300, nats_url=broker_admin, count=plan.timers, timeout=120)
                say(f"   rep {rep + 1} raw publish: {result['per_s']} msg/s cpu {result['cpu']}")
                runs["raw_publish"].append(result)
                result = await self.measure("redis_zset", 120, redis_url=redis.url, members=plan.timers)
                say(f"   rep {rep + 1} bare sorted set: {result['bytes_per_member']} B/member")
                runs["zset"].append(result)
        finally:
            self.stop_extras()
        self.results["expiration"] = runs

    async def service_timers(
        self, tree: Path | None, redis_url: str, nats_url: str, span: float, window: float
    ) -> dict[str, Any]:
        """One run of expiration_svc (`python -m expiration_svc`, ours or the `tree` before) on the scenario's
        Redis and NATS, with fresh keys; the load generator loads its timers and reads what it announced."""
        name = TIMERS_BEFORE if tree is not None else TIMERS_SERVICE
        port = servers.free_port()
        env = {"GRPC_PORT": str(port), "REDIS_URL": redis_url, "NATS_URL": nats_url,
               "REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}"}  # fmt: skip
        child = self.start_child(name, "expiration_svc", {**env, "LOG_LEVEL": "WARNING"}, tree=tree)
        try:
            plan = self.plan
            return await self.measure("service_timers", 300, redis_url=redis_url, nats_url=nats_url,
                                      grpc_port=port, service_pid=_pid(child), prefix=env["REDIS_PREFIX"],
                                      timers=plan.timers, lead=plan.timer_lead, span=span, window=window,
                                      timeout=120)  # fmt: skip
        finally:
            child.stop()
            self.extra_children.remove(child)


def _pid(child: Child) -> int:
    assert child.process is not None
    return child.process.pid


def healthy(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def child_pids(pid: int) -> list[int]:
    """The direct children of `pid` (a Node gateway may fork workers)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def wait_http(port: int, timeout: float = 60, path: str = "/healthz") -> None:
    deadline = time.monotonic() + timeout
    while not healthy(port, path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing healthy on port {port} after {timeout} s")
        await asyncio.sleep(0.2)


def tree_argv(module: str, tree: Path | None) -> list[str]:
    """`python -m module`, or from another checkout: its interpreter, its directory first on the path."""
    if tree is None:
        return [sys.executable, "-m", module]
    return [str(tree / ".venv" / "bin" / "python"), "-c",
            f"import os, runpy, sys; os.chdir({str(tree)!r}); sys.path.insert(0, {str(tree)!r}); "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"]  # fmt: skip


def import_only_rss(module: str) -> int:
    """RSS (KiB) of a fresh interpreter that imported `module` (all of a service's code and libraries) and started
    nothing: the floor a running service is compared with."""
    code = ("import importlib, os, sys; importlib.import_module(sys.argv[1]); "
            "from tests.bench.procs import rss_kib; print(rss_kib(os.getpid()))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, module], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    return int(out.stdout.strip())


def before_commit(tree: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True,
                          check=False)  # fmt: skip
    return done.stdout.strip() or str(tree)


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)docs/BENCHMARKS.md"],  # the report itself does not change the figures
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if dirty else commit


TIMERS_SERVICE, TIMERS_BEFORE = "timers-expiration_svc", "timers-before"  # scenario 4's expiration_svc


def profile_path(out_dir: Path, name: str) -> Path:
    """`out_dir/<name>.prof`, or `<name>.2.prof`... when the process starts again (a scenario restarting it, such as
    overhead's modes, keeps every run's profile)."""
    stem = name.replace(" ", "-")
    path, n = out_dir / f"{stem}.prof", 1
    while path.exists():
        n += 1
        path = out_dir / f"{stem}.{n}.prof"
    return path


EXTRA_PROCESSES = ("bare-strawberry", "live-gateway", TIMERS_SERVICE, overhead.UNCACHED)  # --profile-able (ours only)
SCENARIOS = ("memory", "reads", "purchase", "live", "expiration")
OPT_IN = ("overhead",)  # tests/bench/overhead.py: restarts the stack, so only when asked for


async def profile_children(stack: Stack, names: list[str], out_dir: Path) -> None:
    """Restart the named stack processes under cProfile (stats are written to `out_dir/<name>.prof` when the stack
    stops them). For finding hot spots only: profiled processes run slower, so their figures are not for the record.
    """
    for name in names:
        child = stack.children[name]
        child.stop()
        child.argv = [sys.executable, "-m", "cProfile", "-o", str(out_dir / f"{name}.prof"), "-m", name]
        child.start()
    await stack.wait_healthy(names, timeout=60)
    say(f"profiling {', '.join(names)} into {out_dir}")


async def run(
    plan: Plan,
    only: set[str],
    profile: list[str],
    profile_dir: Path,
    before: Path | None = None,
    with_peer: bool = True,
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="ticketstore-bench-"))
    facts = machine_facts()
    started = time.monotonic()
    say(f"stack data in {data_dir}")
    # Buyers are few and their orders stay unpaid: the hoarding limit (5 per buyer) and the createOrder rate limit
    # (30 a minute per buyer) would refuse the purchases. The limiter still runs on every createOrder.
    abuse_limits_off = {"MAX_ACTIVE_ORDERS_PER_BUYER": "1000000", "CREATE_ORDERS_PER_USER": "1000000/minute"}
    stack = start_stack(data_dir, order_window=3600, extra_env=abuse_limits_off)
    worker: Worker | None = None
    clients: list[Client] = []
    bench: Bench | None = None
    try:
        await stack.wait_healthy(timeout=120)
        if profile:
            await profile_children(stack, [name for name in profile if name in SERVICES], profile_dir)
        worker = await Worker.start()
        bench = Bench(
            plan, stack, worker, data_dir, profile=profile, profile_dir=profile_dir, before=before, peer=with_peer
        )
        bench.names_by_pid.update({_pid(child): name for name, child in stack.children.items()})
        await bench.setup(clients)
        if "memory" in only:
            await bench.idle_memory()
        purchase_ids: list[str] = []
        if "purchase" in only:
            count = plan.reps * (plan.concurrency + plan.orders)  # ours, warmed up after every restart
            say(f"creating {count} tickets to buy")
            purchase_ids = await bench.create_tickets(count)
            await bench.orders_caught_up()
        if "reads" in only:
            await bench.reads()
        if "purchase" in only:
            await bench.purchase(purchase_ids)
        if "live" in only:
            await bench.live()
        if "expiration" in only:
            await bench.expiration()
        if "overhead" in only:  # last: it restarts the stack
            per_mode = plan.concurrency + plan.orders
            say(f"creating {2 * plan.reps * per_mode} tickets to buy")
            overhead_ids = await bench.create_tickets(2 * plan.reps * per_mode, "Overhead gig")
            await bench.orders_caught_up()
            await overhead.run(bench, overhead_ids, LISTING_20)
    finally:
        for client in clients:
            await client.close()
        if bench is not None:
            bench.stop_extras()
        if worker is not None:
            await worker.stop()
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "names_by_pid": bench.names_by_pid if bench else {},
        "facts": facts,
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "seconds": round(time.monotonic() - started, 1),
        "plan": plan.__dict__,
        "results": bench.results if bench else {},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: one repetition, small sizes (no doc)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS} (or {OPT_IN})"
    )
    parser.add_argument("--concurrency", type=int, help="callers in flight for reads and purchases (default 16)")
    parser.add_argument("--reps", type=int, help="repetitions of every measurement (default 3)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--doc", type=Path, default=DOC, help="the report to write (default docs/BENCHMARKS.md)")
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    parser.add_argument("--profile", default="", help="comma-separated stack processes to run under cProfile "
                        "(e.g. tickets_svc,gateway); implies --no-doc")  # fmt: skip
    parser.add_argument("--profile-dir", type=Path, default=Path("/tmp/ticketstore-bench-profile"))
    parser.add_argument("--before", type=Path, help="a checkout of the code before a change (with its own .venv): "
                        "its gateway is measured beside ours, alternating, in reads and live status, and its whole "
                        "stack in the purchase path")  # fmt: skip
    parser.add_argument("--no-peer", action="store_true", help="leave out Hive Gateway (the peer) from the reads")
    parser.add_argument("--probe", action="store_true", help="record GC pauses and MongoDB command latencies in "
                        "every service and gateway (tests/bench/probe); implies --no-doc")  # fmt: skip
    parser.add_argument("--probe-dir", type=Path, default=Path("/tmp/ticketstore-bench-probe"))
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := only - set(SCENARIOS) - set(OPT_IN):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    plan = Plan.quick() if args.quick else Plan()
    if args.concurrency:
        plan.concurrency = args.concurrency
    if args.reps:
        plan.reps = args.reps
    command = "make bench" if os.environ.get("MAKELEVEL") else " ".join(["python -m tests.bench", *sys.argv[1:]])
    profile = [name.strip() for name in args.profile.split(",") if name.strip()]
    if profile:
        shutil.rmtree(args.profile_dir, ignore_errors=True)  # this run's profiles only (see profile_path)
        args.profile_dir.mkdir(parents=True)
    if unknown := set(profile) - set(SERVICES) - set(EXTRA_PROCESSES):
        parser.error(f"cannot profile {', '.join(sorted(unknown))}: choose among "
                     f"{', '.join([*SERVICES, *EXTRA_PROCESSES])}")  # fmt: skip
    if args.probe:
        shutil.rmtree(args.probe_dir, ignore_errors=True)
        args.probe_dir.mkdir(parents=True)
        os.environ["BENCH_PROBE_DIR"] = str(args.probe_dir)  # the stack's processes inherit this environment
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests" / "bench" / "probe"),
                                                                os.environ.get("PYTHONPATH")]))  # fmt: skip
    before = args.before.resolve() if args.before else None
    outcome = asyncio.run(run(plan, only, profile, args.profile_dir, before, not args.no_peer))
    if before is not None:
        outcome["before"] = before_commit(before)
    outcome["command"] = command
    if args.probe:
        outcome["probe"] = report.probe_summary(args.probe_dir, outcome.pop("names_by_pid"))
        print(report.probe_table(outcome["probe"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(outcome, indent=1))
    table = report.table(outcome)
    print(table, flush=True)
    say(f"total {outcome['seconds']} s")
    if not args.no_doc and not args.quick and not profile and not args.probe:
        report.write(args.doc, outcome)
        say(f"wrote {args.doc.relative_to(ROOT) if args.doc.is_relative_to(ROOT) else args.doc}")
    return 0
