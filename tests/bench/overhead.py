"""Scenario `overhead` (`python -m tests.bench --only overhead`): what the instrumentation costs, in one run.

The whole stack runs in two modes, restarted between repetitions, alternating (on, off, off, on, ...), so drift on a
shared machine hits both alike:
- `on`: as deployed. Every process serves metrics (METRICS_PORT set) and tracing is off (no
  OTEL_EXPORTER_OTLP_ENDPOINT: the sampler records nothing, trace context is still made and passed on).
- `off`: the instrumentation absent. No METRICS_PORT (no RPC metrics interceptor, no per-operation hooks) and
  OTEL_SDK_DISABLED=true (no tracing interceptors, spans or trace context: common.tracing).
Each mode measures the reads (ticket(id) and tickets(first: 20), through the stack's gateway with its response cache
and through a second gateway without it, RESPONSE_CACHE_SIZE=0, which the cost would otherwise hide behind) and the
purchase path. Reported: requests/s and gateway core-µs per request, orders/s and propagation p50, on ÷ off per
repetition pair.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from common.testing import servers
from tests.helpers import TICKET

if TYPE_CHECKING:
    from tests.bench.run import Bench

MODES = ("on", "off")
OFF_ENV = {"OTEL_SDK_DISABLED": "true"}  # and no METRICS_PORT
DROPPED_IN_BOTH = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED")
UNCACHED = "gateway uncached"


def mode_env(env: dict[str, str], mode: str, metrics_port: int) -> dict[str, str]:
    """A process's environment in `mode`; `metrics_port` is its METRICS_PORT when metrics are on."""
    changed = {k: v for k, v in env.items() if k not in DROPPED_IN_BOTH and k != "METRICS_PORT"}
    if mode == "on":
        return {**changed, "METRICS_PORT": str(metrics_port)}
    return {**changed, **OFF_ENV}


def order_of_modes(reps: int) -> list[str]:
    """on, off, off, on, on, off, ...: each mode goes first as often as the other."""
    return [mode for rep in range(reps) for mode in (MODES if rep % 2 == 0 else MODES[::-1])]


async def restart_stack(bench: Bench, mode: str) -> None:
    stack = bench.stack
    for name, child in stack.children.items():
        child.stop()
        child.env = mode_env(child.env, mode, stack.metrics_port(name))
    for child in stack.children.values():
        child.start()
    await stack.wait_healthy(timeout=120)


async def run(bench: Bench, ticket_ids: list[str], listing: str) -> None:
    """`ticket_ids`: 2 * reps * (concurrency + orders) tickets to buy, consumed by orders_svc already."""
    from tests.bench.run import say, wait_http

    say("6. instrumentation overhead: metrics on + tracing off (as deployed) vs absent, alternating stack restarts")
    plan = bench.plan
    load = {"concurrency": plan.concurrency, "warmup": plan.warmup, "duration": plan.duration,
            "max_requests": plan.max_requests}  # fmt: skip
    timeout = plan.warmup + plan.duration + 60
    get_bodies = [{"query": TICKET, "variables": {"id": i}} for i in bench.read_ids]
    list_bodies = [{"query": listing}]
    tokens = [b.token for b in bench.buyers if b.token]
    nats_url = bench.stack.nats_admin_url
    results: dict[str, dict[str, list[dict[str, Any]]]] = {mode: {} for mode in MODES}
    remaining = list(ticket_ids)
    try:
        for mode in order_of_modes(plan.reps):
            bench.stop_extras()
            await restart_stack(bench, mode)
            gw_port = bench.stack.ports["gateway"]
            uncached_port = servers.free_port()
            extra = {"METRICS_PORT": str(servers.free_port())} if mode == "on" else OFF_ENV
            env = {"GATEWAY_PORT": str(uncached_port), "NATS_URL": nats_url, "RESPONSE_CACHE_SIZE": "0", **extra}
            bench.start_child(UNCACHED, "gateway", env)
            await wait_http(uncached_port)
            cases = {
                "cached ticket(id)": (gw_port, get_bodies),
                "cached tickets(first: 20)": (gw_port, list_bodies),
                "uncached ticket(id)": (uncached_port, get_bodies),
                "uncached tickets(first: 20)": (uncached_port, list_bodies),
            }
            for name, (port, bodies) in cases.items():
                result = await bench.measure("http_load", timeout, port=port, bodies=bodies, **load)
                server = UNCACHED if name.startswith("uncached") else "gateway"
                result["core_us"] = round(result["cpu"].get(server, 0.0) / result["rps"] * 1e6) if result["rps"] else 0
                say(f"   {mode} {name}: {result['rps']} req/s, gateway {result['core_us']} core-µs/req, "
                    f"p50 {result['p50_ms']} ms, errors {result['errors']}")  # fmt: skip
                results[mode].setdefault(name, []).append(result)
            warm, batch = remaining[: plan.concurrency], remaining[plan.concurrency : plan.concurrency + plan.orders]
            remaining = remaining[plan.concurrency + plan.orders :]
            await bench.worker.call("purchase", 120, gateway_port=gw_port, nats_url=nats_url, tokens=tokens,
                                    ticket_ids=warm, concurrency=plan.concurrency, timeout=30)  # fmt: skip
            result = await bench.measure("purchase", 300, gateway_port=gw_port, nats_url=nats_url, tokens=tokens,
                                         ticket_ids=batch, concurrency=plan.concurrency, timeout=30)  # fmt: skip
            say(f"   {mode} purchase: {result['per_s']} orders/s, propagation p50 {result['prop_p50_ms']} ms, "
                f"errors {result['errors']} {result['sample_error'][:200]}")  # fmt: skip
            results[mode].setdefault("purchase", []).append(result)
    finally:
        bench.stop_extras()
    bench.results["overhead"] = results
    print(table(results), flush=True)


FIGURES = {  # case -> (key, what it is)
    "cached ticket(id)": (("rps", "req/s"), ("core_us", "gateway core-µs/req")),
    "cached tickets(first: 20)": (("rps", "req/s"), ("core_us", "gateway core-µs/req")),
    "uncached ticket(id)": (("rps", "req/s"), ("core_us", "gateway core-µs/req")),
    "uncached tickets(first: 20)": (("rps", "req/s"), ("core_us", "gateway core-µs/req")),
    "purchase": (("per_s", "orders/s"), ("prop_p50_ms", "propagation p50 ms")),
}


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Median per mode, and the median of on ÷ off over the repetition pairs (in the order they ran)."""
    lines = ["| case | figure | on (as deployed) | off (absent) | on ÷ off, per pair | median on ÷ off |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for case, figures in FIGURES.items():
        on, off = results["on"].get(case, []), results["off"].get(case, [])
        for key, meaning in figures:
            on_values = [float(run[key]) for run in on]
            off_values = [float(run[key]) for run in off]
            ratios = [a / b for a, b in zip(on_values, off_values, strict=False) if b]
            if not ratios:
                continue
            lines.append(f"| {case} | {meaning} | {statistics.median(on_values):,.1f} | "
                         f"{statistics.median(off_values):,.1f} | {' '.join(f'{r:.3f}' for r in ratios)} | "
                         f"{statistics.median(ratios):.3f} |")  # fmt: skip
    return "\n".join(lines)
