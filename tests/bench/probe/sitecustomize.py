"""`python -m tests.bench --probe`: put on PYTHONPATH, this runs at start-up of every process of the stack and, in the
services and gateways only, records garbage-collection pauses and MongoDB command latencies, written as JSON to
$BENCH_PROBE_DIR/<module>-<pid>.json when the process exits. Nothing is recorded without BENCH_PROBE_DIR."""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

PROBED = {"auth_svc", "tickets_svc", "orders_svc", "payments_svc", "expiration_svc", "gateway", "tests.bench.bare_app"}


def _module() -> str | None:
    """The module of `python -m <module>`, from the command line the kernel saw."""
    argv = Path("/proc/self/cmdline").read_bytes().split(b"\0")
    modules = [argv[i + 1].decode() for i, arg in enumerate(argv[:-1]) if arg == b"-m"]
    return modules[-1] if modules else None  # the last one: `-m cProfile ... -m gateway` runs gateway


def _install(out_dir: Path, module: str) -> None:
    pauses: dict[int, list[float]] = defaultdict(list)
    commands: dict[str, list[float]] = defaultdict(list)
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[int(info["generation"])].append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(on_gc)
    from pymongo import monitoring  # (installed in the project's environment, used or not by the process)

    class Commands(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            pass

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            commands[event.command_name].append(event.duration_micros / 1000)

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            commands[f"{event.command_name} (failed)"].append(event.duration_micros / 1000)

    monitoring.register(Commands())

    def write() -> None:
        def summary(values: list[float]) -> dict[str, float]:
            return {"count": len(values), "total_ms": round(sum(values), 1), "max_ms": round(max(values), 2),
                    "mean_ms": round(sum(values) / len(values), 3)}  # fmt: skip

        found = {
            "module": module,
            "gc": {f"gen{generation}": summary(values) for generation, values in sorted(pauses.items())},
            "mongo": {name: summary(values) for name, values in sorted(commands.items())},
        }
        (out_dir / f"{module}-{os.getpid()}.json").write_text(json.dumps(found, indent=1))

    atexit.register(write)


def _main() -> None:
    out = os.environ.get("BENCH_PROBE_DIR")
    module = _module() if out else None
    if out and module in PROBED:
        _install(Path(out), module)


_main()
