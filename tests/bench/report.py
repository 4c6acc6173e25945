"""The results as a table (printed) and as docs/BENCHMARKS.md. A section of the document between KEEP markers (the
profile and its before/after figures) is written by hand and carried over unchanged when the bench rewrites it."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.stats import Figure, figure

KEEP_BEGIN = "<!-- KEEP: written by hand, kept when the bench rewrites this file -->"
KEEP_END = "<!-- END KEEP -->"
SPREAD_GOAL_MS = 100.0  # scenario 4, spread: lateness p99 (issue 17)
CPU_GROUPS = {
    "load": ("load",),
    "gateway": ("gateway",),
    "services": ("auth_svc", "tickets_svc", "orders_svc", "payments_svc", "expiration_svc"),
    "servers": ("nats", "redis", "mongo", "stripe"),
    "bench extras": (
        "bench extras",
        "bare-strawberry",
        "before-gateway",
        "hive-gateway",
        "live-gateway",
        "live-before",
    ),
    "expiration_svc under test": ("timers-expiration_svc", "timers-before"),
    "others": ("others",),
}


@dataclass(frozen=True)
class Row:
    scenario: str
    measured: str
    ceiling_name: str
    ceiling: str
    ratio: Figure  # measured / ceiling, per repetition (paired runs)
    ratio_meaning: str


def fmt(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def spread(fig: Figure, digits: int = 0) -> str:
    """median [min-max] over the repetitions."""
    if len(fig.runs) == 1:
        return fmt(fig.median, digits)
    return f"{fmt(fig.median, digits)} [{fmt(fig.low, digits)}-{fmt(fig.high, digits)}]"


def paired(values: Sequence[dict[str, Any]], ceilings: Sequence[dict[str, Any]], key: str, ceiling_key: str) -> Figure:
    return Figure(tuple(float(v[key]) / float(c[ceiling_key]) for v, c in zip(values, ceilings, strict=False)))


def cpu_line(runs: Sequence[dict[str, Any]], groups: dict[str, tuple[str, ...]] | None = None) -> str:
    """Median cores used per process group while the measurement ran (groups with under 0.01 left out)."""
    parts = []
    for group, names in (groups or CPU_GROUPS).items():
        values = [sum(run["cpu"].get(name, 0.0) for name in names) for run in runs if "cpu" in run]
        if values and statistics.median(values) >= 0.01:
            parts.append(f"{group} {statistics.median(values):.2f}")
    return " · ".join(parts)


def cpu_by_process(runs: Sequence[dict[str, Any]]) -> str:
    names = [name for name in runs[0].get("cpu", {}) if name != "wall"] if runs else []
    return cpu_line(runs, {name: (name,) for name in names})


EXTRA_GROUPS = {name: (name,) for name in ("bare-strawberry", "before-gateway", "hive-gateway", "gateway uncached",
                                           "gateway 2 replicas", "tickets-replica")}  # fmt: skip
READ_GROUPS = {**{k: v for k, v in CPU_GROUPS.items() if k not in ("bench extras", "others")}, **EXTRA_GROUPS,
               "bench nats": ("bench extras",), "others": ("others",)}  # fmt: skip
SERVER_OF_CASE = {"gateway": "gateway", "before": "before-gateway", "hive": "hive-gateway", "bare": "bare-strawberry",
                  "grpc": "tickets_svc", "uncached": "gateway uncached", "2": "gateway 2 replicas"}  # fmt: skip


def core_us(runs: Sequence[dict[str, Any]], case: str) -> Figure:
    """CPU of the serving process per request (core-µs), per run: its cores used ÷ requests per second."""
    server = SERVER_OF_CASE[case.split(maxsplit=1)[0]]
    return Figure(tuple(run["cpu"].get(server, 0.0) / run["rps"] * 1e6 for run in runs if run["rps"]))


def latency(runs: Sequence[dict[str, Any]], prefix: str = "") -> str:
    return f"p50 {spread(figure(runs, f'{prefix}p50_ms'), 1)} ms, p99 {spread(figure(runs, f'{prefix}p99_ms'), 1)} ms"


def rows(outcome: dict[str, Any]) -> list[Row]:
    results = outcome["results"]
    found: list[Row] = []
    if "reads" in results:
        reads = results["reads"]
        bare = reads["bare { __typename }"]
        pairs = [
            (f"{who} {read}", f"grpc {direct}")
            for who in ("gateway", "uncached", "before")
            for read, direct in (("ticket(id)", "GetTicket"), ("tickets(first: 20)", "ListTickets(20)"))
        ]
        for gateway_case, grpc_case in pairs:
            if gateway_case not in reads:
                continue
            gw, direct = reads[gateway_case], reads[grpc_case]
            who = {"gateway": "", "uncached": " (response cache off)"}.get(
                gateway_case.split()[0], f" (before: {outcome.get('before', '?')})"
            )
            measured = (f"{gateway_case.split(' ', 1)[1]}{who}: {spread(figure(gw, 'rps'))} req/s, {latency(gw)}, "
                        f"gateway {spread(core_us(gw, gateway_case))} core-µs/req")  # fmt: skip
            found.append(Row("1. reads", measured, f"direct gRPC {grpc_case.removeprefix('grpc ')}",
                             f"{spread(figure(direct, 'rps'))} req/s, {latency(direct)}",
                             paired(gw, direct, "rps", "rps"), "gateway overhead: req/s ÷ req/s"))  # fmt: skip
            found.append(Row("1. reads", measured, "bare Strawberry `{ __typename }`",
                             f"{spread(figure(bare, 'rps'))} req/s, {latency(bare)}, "
                             f"{spread(core_us(bare, 'bare'))} core-µs/req",
                             paired(gw, bare, "rps", "rps"), "framework ceiling: req/s ÷ req/s"))  # fmt: skip
            cpu = core_us(gw, gateway_case)
            found.append(Row("1. reads", measured, "bare Strawberry, CPU per request",
                             f"{spread(core_us(bare, 'bare'))} core-µs/req",
                             Figure(tuple(b / g for b, g in zip(core_us(bare, "bare").runs, cpu.runs, strict=False))),
                             "core-µs ÷ core-µs"))  # fmt: skip
        if "2 replicas ticket(id)" in reads:
            two, one = reads["2 replicas ticket(id)"], reads["uncached ticket(id)"]
            found.append(Row(
                "6. scale-out", f"ticket(id), cache off, 2 tickets_svc replicas behind one target (round robin): "
                f"{spread(figure(two, 'rps'))} req/s, {latency(two)}", "the same gateway, one tickets_svc",
                f"{spread(figure(one, 'rps'))} req/s, {latency(one)}", paired(two, one, "rps", "rps"),
                "req/s ÷ req/s (2 cores: the replicas share them)",
            ))  # fmt: skip
        for read in ("ticket(id)", "tickets(first: 20)"):
            if f"hive {read}" in reads and f"uncached {read}" in reads:
                # Like for like: our gateway with its response cache off (the peer runs without one).
                ours, hive = reads[f"uncached {read}"], reads[f"hive {read}"]
                found.append(Row(
                    "1. reads vs peer", f"{read}, response cache off: {spread(figure(ours, 'rps'))} req/s, "
                    f"{latency(ours)}, {spread(core_us(ours, 'uncached'))} core-µs/req",
                    "Hive Gateway (same tickets_svc)",
                    f"{spread(figure(hive, 'rps'))} req/s, {latency(hive)}, "
                    f"{spread(core_us(hive, 'hive'))} core-µs/req",
                    paired(ours, hive, "rps", "rps"), "req/s ÷ peer req/s",
                ))  # fmt: skip
    if "purchase" in results:
        buy, raw = results["purchase"]["purchase"], results["purchase"]["broker"]
        found.append(Row(
            "2. purchase", f"createOrder→RESERVED: {spread(figure(buy, 'per_s'), 1)} orders/s, propagation "
            f"{latency(buy, 'prop_')}", "raw JetStream publish+consume",
            f"{spread(figure(raw, 'per_s'))} msg/s, {latency(raw, 'prop_')}",
            paired(buy, raw, "per_s", "per_s"), "orders/s ÷ msg/s",
        ))  # fmt: skip
        found.append(Row(
            "2. purchase", f"propagation p50 {spread(figure(buy, 'prop_p50_ms'), 1)} ms", "raw JetStream p50",
            f"{spread(figure(raw, 'prop_p50_ms'), 1)} ms", paired(raw, buy, "prop_p50_ms", "prop_p50_ms"),
            "broker p50 ÷ propagation p50",
        ))  # fmt: skip
        if "before purchase" in results["purchase"]:
            old = results["purchase"]["before purchase"]
            found.append(Row(
                "2. purchase", f"propagation p50 {spread(figure(buy, 'prop_p50_ms'), 1)} ms, "
                f"{spread(figure(buy, 'per_s'), 1)} orders/s", f"the code before ({outcome.get('before', '?')})",
                f"propagation p50 {spread(figure(old, 'prop_p50_ms'), 1)} ms, {spread(figure(old, 'per_s'), 1)} "
                "orders/s", paired(old, buy, "prop_p50_ms", "prop_p50_ms"),
                "before's propagation p50 ÷ ours (speed-up, per alternating pair)",
            ))  # fmt: skip
    if "live" in results:
        live, plan = results["live"], outcome["plan"]
        hub, hub_spread = live["hub"]["runs"], live["hub spread"]["runs"]
        for name, label in (("live-gateway", ""), ("live-before", f" ({outcome.get('before', 'before')})")):
            if name not in live:
                continue
            ws, spread_runs = live[name]["runs"], live.get(f"{name} spread", {}).get("runs", [])
            found.append(Row(
                "3. live status", f"1 ticket{label}: {spread(figure(ws, 'per_s'))} deliveries/s, {latency(ws)}, "
                f"gateway {spread(figure(ws, 'gateway_us_per_delivery'), 1)} core-µs/delivery",
                "the hub in-process", f"{spread(figure(hub, 'per_s'))} deliveries/s, {latency(hub)}",
                paired(ws, hub, "per_s", "per_s"), "deliveries/s ÷ deliveries/s",
            ))  # fmt: skip
            if not spread_runs:
                continue
            found.append(Row(
                "3. live status", f"{plan['spread_connections'] * plan['spread_per_connection']:,} subscriptions over "
                f"{plan['spread_tickets']:,} tickets{label}: "
                f"{spread(figure(spread_runs, 'per_s'))} deliveries/s, {latency(spread_runs)}, gateway "
                f"{spread(figure(spread_runs, 'gateway_us_per_delivery'), 1)} core-µs/delivery",
                "the hub in-process, same spread", f"{spread(figure(hub_spread, 'per_s'))} deliveries/s, "
                f"{latency(hub_spread)}", paired(spread_runs, hub_spread, "per_s", "per_s"),
                "deliveries/s ÷ deliveries/s",
            ))  # fmt: skip
    if "expiration" in results:
        expiration = results["expiration"]
        raw, zset = expiration["raw_publish"], expiration["zset"]
        for label in ("", "before "):
            if f"{label}timers" not in expiration:
                continue
            timers, spread_runs = expiration[f"{label}timers"], expiration[f"{label}spread"]
            found.append(Row(
                "4. expiration", f"{outcome['plan']['timers']:,} timers due at once{label and ', before'}: lateness "
                f"p50 {spread(figure(timers, 'lateness_p50_ms'))} ms, p99 {spread(figure(timers, 'lateness_p99_ms'))}"
                f" ms; {spread(figure(timers, 'fire_per_s'))} fired/s", "raw JetStream publish, same concurrency",
                f"{spread(figure(raw, 'per_s'))} msg/s", paired(timers, raw, "fire_per_s", "per_s"), "fired/s ÷ msg/s",
            ))  # fmt: skip
            found.append(Row(
                "4. expiration", f"{outcome['plan']['timers']:,} pending, {outcome['plan']['timer_rate']:,.0f} due "
                f"per second{label and ', before'}: lateness p50 {spread(figure(spread_runs, 'lateness_p50_ms'))} ms, "
                f"p99 {spread(figure(spread_runs, 'lateness_p99_ms'))} ms", "the goal (issue 17)",
                f"p99 {SPREAD_GOAL_MS} ms", Figure(tuple(SPREAD_GOAL_MS / max(1.0, r["lateness_p99_ms"])
                                                          for r in spread_runs)), "goal ÷ p99",
            ))  # fmt: skip
        timers = expiration["timers"]
        found.append(Row(
            "4. expiration", f"Redis memory {spread(figure(timers, 'bytes_per_timer'))} B per pending timer",
            "bare sorted set, same ids", f"{spread(figure(zset, 'bytes_per_member'))} B per member",
            paired(zset, timers, "bytes_per_member", "bytes_per_timer"), "B/member ÷ B/timer",
        ))  # fmt: skip
    if "memory" in results:
        memory = results["memory"]
        for name, values in memory["running_mib"].items():
            imported = memory["imported_mib"][name]
            found.append(Row(
                "5. idle RSS", f"{name}: {spread(Figure(tuple(values)), 1)} MiB", "same code imported, nothing started",
                f"{spread(Figure(tuple(imported)), 1)} MiB",
                Figure(tuple(i / r for i, r in zip(imported, values, strict=False))), "imported ÷ running",
            ))  # fmt: skip
    return found


def worst(found: Sequence[Row]) -> Row | None:
    """The comparison furthest from its ceiling (smallest measured ÷ ceiling)."""
    return min(found, key=lambda row: row.ratio.median, default=None)


def table(outcome: dict[str, Any]) -> str:
    found = rows(outcome)
    bottom = worst(found)
    lines = [
        "| scenario | measured (median [min-max] of runs) | ceiling | ceiling figure | ratio |",
        "|---|---|---|---|---|",
    ]
    for row in found:
        mark = " **← worst**" if row is bottom else ""
        lines.append(f"| {row.scenario} | {row.measured} | {row.ceiling_name} | {row.ceiling} | "
                     f"{spread(row.ratio, 3)} ({row.ratio_meaning}){mark} |")  # fmt: skip
    return "\n".join(lines)


def details(outcome: dict[str, Any]) -> str:
    """Per scenario: how the load and the system under test shared the cores, and the raw figures."""
    results = outcome["results"]
    out: list[str] = []
    if "reads" in results:
        out.append("### 1. Reads: cores used while measuring (median over runs)\n")
        out.append("| case | req/s | p50 ms | p99 ms | errors | server core-µs/req | cores used |")
        out.append("|---|---|---|---|---|---|---|")
        for name, runs in results["reads"].items():
            out.append(
                f"| {name} | {spread(figure(runs, 'rps'))} | {spread(figure(runs, 'p50_ms'), 2)} | "
                f"{spread(figure(runs, 'p99_ms'), 2)} | {sum(r['errors'] for r in runs)} | "
                f"{spread(core_us(runs, name))} | {cpu_line(runs, READ_GROUPS)} |"
            )
        idle = results.get("gateways_idle_mib", {})
        if idle:
            out.append("\nIdle RSS before the load: " + ", ".join(f"{n} {v:.1f} MiB" for n, v in idle.items()) + ".")
        out.append("")
    if "purchase" in results:
        buy, raw = results["purchase"]["purchase"], results["purchase"]["broker"]
        out.append("### 2. Purchase path\n")
        out.append(f"- createOrder through the gateway, then `ticket.updated` RESERVED seen on NATS: "
                   f"{spread(figure(buy, 'per_s'), 1)} orders/s; API answer {latency(buy, 'api_')}; propagation "
                   f"(answer → RESERVED event) {latency(buy, 'prop_')}; whole ({latency(buy, 'e2e_')}); "
                   f"errors {sum(r['errors'] for r in buy)}. The two event hops: request → `order.created` on NATS "
                   f"{latency(buy, 'hop1_')}; `order.created` → `ticket.updated` RESERVED {latency(buy, 'hop2_')}. "
                   f"Cores by process: {cpu_by_process(buy)}.")  # fmt: skip
        if "before purchase" in results["purchase"]:
            old = results["purchase"]["before purchase"]
            out.append(f"- the code before ({outcome.get('before', '')}), alternating with this commit on the same "
                       f"servers: {spread(figure(old, 'per_s'), 1)} orders/s; API answer {latency(old, 'api_')}; "
                       f"propagation {latency(old, 'prop_')}; hops {latency(old, 'hop1_')} and "
                       f"{latency(old, 'hop2_')}; errors {sum(r['errors'] for r in old)}. Cores by process: "
                       f"{cpu_by_process(old)}.")  # fmt: skip
        out.append(f"- raw JetStream, {raw[0]['payload_bytes']}-byte payloads (order.created's size): "
                   f"{spread(figure(raw, 'per_s'))} msg/s, publish → consumed {latency(raw, 'prop_')}. "
                   f"Cores: {cpu_line(raw)}.\n")  # fmt: skip
    if "live" in results:
        live = results["live"]
        out.append("### 3. Live status\n")
        for name in ("live-gateway", "live-before"):
            if name not in live:
                continue
            ws, wide = live[name]["runs"], live.get(f"{name} spread", {}).get("runs", [])
            label = "this commit" if name == "live-gateway" else f"before ({outcome.get('before', '')})"
            out.append(f"- {label}, 1 ticket: {spread(figure(ws, 'per_s'))} deliveries/s "
                       f"({spread(figure(ws, 'changes_per_s'), 2)} status changes/s to every subscriber), "
                       f"{latency(ws)}, gateway {spread(figure(ws, 'gateway_us_per_delivery'), 1)} core-µs per "
                       f"delivery; subscriptions opened in {spread(figure(ws, 'connect_s'), 2)} s. Cores over the "
                       f"whole command (opening included): {cpu_line(ws)}.")  # fmt: skip
            if wide:
                cost = spread(figure(wide, "gateway_us_per_delivery"), 1)
                out.append(f"- {label}, spread: {spread(figure(wide, 'per_s'))} deliveries/s, {latency(wide)}, "
                           f"gateway {cost} core-µs per delivery.")  # fmt: skip
        out.append(f"- hub in-process, 1 ticket: {spread(figure(live['hub']['runs'], 'per_s'))} deliveries/s, "
                   f"{latency(live['hub']['runs'])}; spread: {spread(figure(live['hub spread']['runs'], 'per_s'))} "
                   f"deliveries/s, {latency(live['hub spread']['runs'])}.\n")  # fmt: skip
    if "expiration" in results:
        expiration = results["expiration"]
        plan = outcome["plan"]
        out.append("### 4. Expiration\n")
        for label in ("", "before "):
            if f"{label}timers" not in expiration:
                continue
            timers, spread_runs = expiration[f"{label}timers"], expiration[f"{label}spread"]
            name = "the code before" if label else "expiration_svc"
            out.append(f"- {name}, {plan['timers']:,} timers due at once: added in "
                       f"{spread(figure(timers, 'add_s'), 2)} s (all in place {spread(figure(timers, 'margin_s'), 2)}"
                       f" s before they were due); lateness p50 {spread(figure(timers, 'lateness_p50_ms'))} ms, "
                       f"p99 {spread(figure(timers, 'lateness_p99_ms'))} ms, "
                       f"max {spread(figure(timers, 'lateness_max_ms'))} ms; "
                       f"{spread(figure(timers, 'fire_per_s'))} fired/s; fired "
                       f"{sum(r['fired'] for r in timers):,} of {sum(r['measured'] for r in timers):,}; expiration_svc "
                       f"{spread(figure(timers, 'service_cores'), 2)} cores while firing. Redis: "
                       f"{spread(figure(timers, 'bytes_per_timer'), 1)} B per pending timer, "
                       f"{spread(figure(timers, 'bytes_per_tombstone'), 1)} B per fired timer's tombstone "
                       f"(kept `TOMBSTONE_SECONDS`). Cores over the whole command: {cpu_line(timers)}.")  # fmt: skip
            out.append(f"- {name}, {plan['timers']:,} pending, {plan['timer_rate']:,.0f} due per second (the first "
                       f"{plan['timer_window']:.0f} s measured): lateness "
                       f"p50 {spread(figure(spread_runs, 'lateness_p50_ms'), 1)} ms, "
                       f"p99 {spread(figure(spread_runs, 'lateness_p99_ms'), 1)} ms, "
                       f"max {spread(figure(spread_runs, 'lateness_max_ms'), 1)} ms; fired "
                       f"{sum(r['fired'] for r in spread_runs):,} of {sum(r['measured'] for r in spread_runs):,}; "
                       f"expiration_svc {spread(figure(spread_runs, 'service_cores'), 2)} cores "
                       "while firing.")  # fmt: skip
        out.append(f"- raw publish: {spread(figure(expiration['raw_publish'], 'per_s'))} msg/s. Cores: "
                   f"{cpu_line(expiration['raw_publish'])}.\n")  # fmt: skip
    if "memory" in results:
        servers_mib = results["memory"]["servers_mib"]
        out.append("### 5. Idle memory\n")
        out.append("Servers (for reference, no ceiling): "
                   + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in servers_mib.items()) + ".\n")  # fmt: skip
    return "\n".join(out)


def probe_summary(directory: Path, names_by_pid: dict[int, str]) -> dict[str, Any]:
    """What tests/bench/probe recorded, per process (named as the bench started it)."""
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        pid = int(path.stem.rsplit("-", 1)[1])
        found[f"{names_by_pid.get(pid, data['module'])} ({pid})"] = data
    return found


def probe_table(found: dict[str, Any]) -> str:
    lines = ["| process | GC pauses: count, total ms, longest ms (full collections) | MongoDB commands: count, "
             "mean ms |", "|---|---|---|"]  # fmt: skip
    for name, data in found.items():
        gc_runs = data["gc"].values()
        full = data["gc"].get("gen2", {"count": 0, "max_ms": 0.0})
        pauses = (f"{sum(g['count'] for g in gc_runs)}, {sum(g['total_ms'] for g in gc_runs):.0f}, "
                  f"{max((g['max_ms'] for g in gc_runs), default=0):.0f} ({full['count']} full, longest "
                  f"{full['max_ms']:.0f})")  # fmt: skip
        mongo = ", ".join(f"{cmd} {m['count']} x {m['mean_ms']:.2f}" for cmd, m in data["mongo"].items()) or "-"
        lines.append(f"| {name} | {pauses} | {mongo} |")
    return "\n".join(lines)


def kept_section(path: Path) -> str:
    if not path.exists():
        return f"{KEEP_BEGIN}\n{KEEP_END}"
    text = path.read_text()
    if KEEP_BEGIN in text and KEEP_END in text:
        return text[text.index(KEEP_BEGIN) : text.index(KEEP_END) + len(KEEP_END)]
    return f"{KEEP_BEGIN}\n{KEEP_END}"


def write(path: Path, outcome: dict[str, Any]) -> None:
    found = rows(outcome)
    bottom = worst(found)
    facts = outcome["facts"]
    plan = outcome["plan"]
    worst_line = ""
    if bottom is not None:
        worst_line = (f"**Worst ratio:** {bottom.scenario}, {bottom.measured} against {bottom.ceiling_name} "
                      f"({bottom.ceiling}): {spread(bottom.ratio, 3)} ({bottom.ratio_meaning}).")  # fmt: skip
    text = f"""# Benchmarks

Written by `make bench` (`python -m tests.bench`); do not edit by hand except the section marked KEEP.
Every scenario is paired, in the same run, with its ceiling; figures are the median of {plan["reps"]} runs with
[min-max] across them; ratio = measured ÷ ceiling per run (runs are paired), median [min-max].

- **Command:** `{outcome["command"]}` · **date:** {outcome["date"]} · **commit:** {outcome["commit"]}
  · **total run time:** {outcome["seconds"]} s (stack start-up included)
- **Machine:** {facts["cores"]} cores, {facts["cpu"]}, {facts["memory"]} RAM, Python {facts["python"]},
  kernel {facts["kernel"]}, load average at start {facts["load average at start (1/5/15 min)"]}

## Results

{table(outcome)}

{worst_line}

## How load and servers share the cores

The conductor (`python -m tests.bench`) starts the stack as `make dev` and the e2e tests do
(`tests.helpers.start_stack`: real nats-server, redis-server, nx-27017, localstripe, five services and the gateway
as separate processes on free loopback ports) and one load-generator process (`tests/bench/worker.py`, uvloop).
Nothing is pinned: the kernel schedules the load generator and the servers over the {facts["cores"]} cores. While a
measurement runs the conductor only waits; it reads each process's CPU time from /proc before and after, and the
tables below give the cores each group used on average (1.00 = one core all the time): `load` = the load
generator, `gateway`, `services` = the five services, `servers` = NATS/Redis/nx-27017/localstripe, `bench extras` =
the bare Strawberry app or the second gateway and their NATS/Redis, `others` = everything else on the machine
(other people's work on a shared host: figures taken while `others` is high are noisier). Two measurements have no
separate server: the hub ceiling (3) and the expiration scheduler (4) run inside the load-generator process, so
there `load` is the system under test.

{details(outcome)}
## Method

1. **Reads.** {plan["concurrency"]} keep-alive connections, closed loop (each sends its next request when the
   previous one answered), {plan["warmup"]:.0f} s warm-up then {plan["duration"]:.0f} s measured, cases interleaved
   per run. `ticket(id)` cycles over 20 tickets; `tickets(first: 20)` reads the first page. The HTTP load client is a
   minimal HTTP/1.1 client on asyncio streams (httpx costs several times more CPU per request, which would take
   the core away from the gateway); each answer is checked (status 200, no `errors`). The direct gRPC client is
   grpc.aio on one channel, like the gateway's. The bare app (`tests/bench/bare_app.py`) is the gateway process
   itself (uvicorn + uvloop, same view, context, extensions and parser/validation caches) with a one-field schema.
2. **Purchase.** {plan["concurrency"]} buyers (4 accounts), each: `createOrder` (the e2e tests' mutation) on a
   fresh AVAILABLE ticket, then wait for `ticket.updated` with status RESERVED on NATS (core subscription, as the
   gateway's hub sees it); {plan["orders"]} orders per run after a warm-up of {plan["concurrency"]}. Propagation =
   from the API answer to the RESERVED event (orders_svc outbox → `order.created` → tickets_svc → its outbox →
   `ticket.updated`). Ceiling: a raw JetStream stream (file storage, same dedup window, Nats-Msg-Id header) with
   {plan["concurrency"]} publishers awaiting each ack and one durable pull consumer; latency = publish → consumed.
3. **Live status.** {plan["subscribers"]} graphql-transport-ws connections, each with one `ticketStatus`
   subscription on the same ticket, on a second gateway process identical to the stack's except that its NATS is a
   private nats-server: the status changes are published there as `ticket.updated` (the payload tickets_svc
   publishes), one at a time, the next once every subscriber received the previous; {plan["changes"]} changes per
   run. Then the spread: {plan["spread_connections"]:,} connections x {plan["spread_per_connection"]} subscriptions =
   {plan["spread_connections"] * plan["spread_per_connection"]:,} subscriptions over {plan["spread_tickets"]:,}
   tickets (each ticket watched from {
        plan["spread_connections"] * plan["spread_per_connection"] // max(1, plan["spread_tickets"])
    } connections; {plan["spread_connections"]:,} sockets rather than 10,000 keeps
   the load generator's file descriptors and CPU in bounds); each round publishes one change of every ticket in a
   burst and waits for every delivery ({plan["spread_rounds"]} rounds per run); latency = publish → received. The
   load client is a bare websocket client (`RawSocket` in tests/bench/worker.py: no compression, no JSON decoding
   of `next` frames) so the load generator leaves the core to the gateway; gateway core-µs per delivery are read
   from /proc around each run. With `--before <checkout>` the code before runs as a second gateway, alternating.
   Ceilings: the gateway's `LiveHub` in one process with the same subscribers, fed with `publish_local`.
4. **Expiration.** expiration_svc's own `Scheduler` and `TimerStore` (its default poll interval, lease, batch size
   and publish concurrency) on a fresh redis-server (AOF on, as in production) and nats-server (our streams);
   {plan["timers"]:,} timers (ObjectId order ids) all due {plan["timer_lead"]:.0f} s after they start being added.
   Lateness = when the broker acknowledged the `expiration.complete` minus the due time. Memory = Redis
   `used_memory` before/after. Ceilings: the same announcements published straight to JetStream with the same
   concurrency; the same ids in one bare sorted set.
5. **Idle memory.** VmRSS of each stack process after start-up, sign-ups, 20 tickets listed and read (before the
   load scenarios); ceiling (floor): a fresh interpreter that imported the service's `app` module and started
   nothing.

## Profile and improvement

{kept_section(path)}
"""
    path.write_text(text)
