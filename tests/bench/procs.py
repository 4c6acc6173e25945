"""What /proc says about processes and the machine: CPU time, resident memory, cores, CPU model, load."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def rss_kib(pid: int) -> int:
    """VmRSS from /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


@dataclass
class CpuMeter:
    """CPU used by named groups of processes, and by the rest of the machine, between start() and stop()."""

    groups: dict[str, list[int]]

    def start(self) -> None:
        self._t0 = _monotonic()
        self._machine0 = machine_busy_seconds()
        self._groups0 = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}

    def stop(self) -> dict[str, float]:
        """Cores used on average per group (1.0 = one core busy all the time), plus `others` and `wall`."""
        wall = max(1e-9, _monotonic() - self._t0)
        used = {name: (sum(cpu_seconds(p) for p in pids) - self._groups0[name]) / wall
                for name, pids in self.groups.items()}  # fmt: skip
        machine = (machine_busy_seconds() - self._machine0) / wall
        used["others"] = max(0.0, machine - sum(used.values()))
        used["wall"] = wall
        return used


def _monotonic() -> float:
    import time

    return time.monotonic()


def machine_facts() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    load = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load average at start (1/5/15 min)": " / ".join(load),
    }
