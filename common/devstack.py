"""`make dev`: the whole stack on this machine, in the foreground.

Starts NATS (JetStream), Redis (AOF), the MongoDB-compatible server and the Stripe emulator with data under
`.dev/`, then the five services and the gateway; waits until each is healthy; prints where GraphiQL and the logs
are. A service that exits is reported loudly and restarted (with a growing pause; after 5 quick crashes in a row
the whole stack stops). Ctrl-C or SIGTERM stops everything it started; the data stays for the next run.

Set MONGO_URL, NATS_URL, REDIS_URL or STRIPE_API_BASE to use servers of your own instead of the embedded ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.settings import DEV_DIR
from common.testing import servers

# Dev ports sit away from the defaults, so a system NATS (4222) or Redis (6379) on the machine is never touched.
DEV_PORTS = {"nats": 14222, "redis": 16379, "mongo": 27017, "stripe": 12111}
SERVICE_PORTS = {"auth_svc": 50051, "tickets_svc": 50052, "orders_svc": 50053, "payments_svc": 50054,
                 "expiration_svc": 50055}  # fmt: skip
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8000"))
MAX_QUICK_CRASHES = 5


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_crashes: int = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.started_at = time.monotonic()

    def stop(self, timeout: float = 15) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def take_lock() -> IO[str]:
    DEV_DIR.mkdir(parents=True, exist_ok=True)
    handle = (DEV_DIR / "devstack.lock").open("a+")  # not "w": the loser must not wipe the holder's pid
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        say(f"another `make dev` (pid {holder}) is already running from this checkout. Stop it first (Ctrl-C there).")
        sys.exit(1)
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def check_ports_free(ports: dict[str, int]) -> None:
    taken = {name: port for name, port in ports.items() if servers.port_open(port)}
    if taken:
        listing = ", ".join(f"{name} on {port}" for name, port in taken.items())
        say(f"ports already in use: {listing}. Something else is listening there; stop it or change the port.")
        sys.exit(1)


@dataclass
class Stack:
    """The servers, services and gateway on chosen ports; `make dev` and the end-to-end tests both run this."""

    data_dir: Path
    ports: dict[str, int]  # nats, redis, mongo, stripe, every service name, gateway
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    servers: list[servers.RunningServer] = field(default_factory=list)
    children: dict[str, Child] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, data_dir: Path, env: dict[str, str]) -> Stack:
        names = ["nats", "redis", "mongo", "stripe", *SERVICE_PORTS, "gateway"]
        return cls(data_dir, {name: servers.free_port() for name in names}, env)

    def start_infrastructure(self) -> None:
        wanted = {
            "nats": ("NATS_URL", servers.start_nats),
            "redis": ("REDIS_URL", servers.start_redis),
            "mongo": ("MONGO_URL", servers.start_mongo),
            "stripe": ("STRIPE_API_BASE", servers.start_stripe),
        }
        check_ports_free({name: self.ports[name] for name, (var, _) in wanted.items() if var not in self.env})
        for name, (variable, start) in wanted.items():
            if variable in self.env:
                say(f"{name}: using {variable}={self.env[variable]}")
                continue
            server = start(self.data_dir / name, self.ports[name])
            self.servers.append(server)
            self.env[variable] = server.url
            say(f"{name}: {server.url} (data in {self.data_dir / name})")

    def service_env(self) -> dict[str, str]:
        env = dict(self.env)
        env.setdefault("ENVIRONMENT", "dev")
        env.setdefault("STRIPE_API_KEY", "sk_test_local_emulator")
        for name in SERVICE_PORTS:
            env[f"{name.removesuffix('_svc').upper()}_GRPC_TARGET"] = f"127.0.0.1:{self.ports[name]}"
        return env

    def start_services(self) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = self.service_env()
        check_ports_free({name: self.ports[name] for name in [*SERVICE_PORTS, "gateway"]})
        for name in SERVICE_PORTS:
            port_env = {"GRPC_PORT": str(self.ports[name])}
            self.children[name] = Child(name, [sys.executable, "-m", name], {**env, **port_env}, logs / f"{name}.log")
        gateway_env = {**env, "GATEWAY_PORT": str(self.ports["gateway"])}
        self.children["gateway"] = Child(
            "gateway", [sys.executable, "-m", "gateway"], gateway_env, logs / "gateway.log"
        )
        for child in self.children.values():
            child.start()

    async def wait_healthy(self, names: list[str] | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names or self.children)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                child = self.children[name]
                if child.process is not None and child.process.poll() is not None:
                    raise RuntimeError(f"{name} exited during start-up; see {child.log_path}")
                port = self.ports[name]
                ok = healthy_http(port) if name == "gateway" else await healthy_grpc(port)
                if ok:
                    pending.discard(name)
                    say(f"{name}: healthy")
            await asyncio.sleep(0.2)
        if pending:
            raise RuntimeError(f"not healthy after {timeout:.0f} s: {', '.join(sorted(pending))}")

    def kill(self, name: str) -> None:
        """SIGKILL one service, as a crash would."""
        process = self.children[name].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.children[name].start()

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()
        for server in reversed(self.servers):
            server.stop()


def say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


async def healthy_grpc(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def healthy_http(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


async def supervise(children: list[Child], stop: asyncio.Event) -> None:
    """Restart a child that exits; give up (stopping everything) after repeated quick crashes."""
    while not stop.is_set():
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            quick = time.monotonic() - child.started_at < 30
            child.quick_crashes = child.quick_crashes + 1 if quick else 1
            say(f"!!! {child.name} exited with code {code}; last log lines from {child.log_path}:")
            with contextlib.suppress(OSError):
                for line in child.log_path.read_text(errors="replace").splitlines()[-15:]:
                    print(f"    {line}", flush=True)
            if child.quick_crashes >= MAX_QUICK_CRASHES:
                say(f"!!! {child.name} keeps crashing; stopping the stack")
                stop.set()
                return
            pause = min(10.0, 0.5 * 2**child.quick_crashes)
            say(f"restarting {child.name} in {pause:.1f} s")
            await asyncio.sleep(pause)
            child.start()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def main() -> int:
    lock = take_lock()
    ports = {**DEV_PORTS, **SERVICE_PORTS, "gateway": GATEWAY_PORT}
    stack = Stack(DEV_DIR, ports)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        stack.start_infrastructure()
        stack.start_services()
        await stack.wait_healthy()
        say("")
        say(f"web:       http://127.0.0.1:{GATEWAY_PORT}/")
        say(f"GraphiQL:  http://127.0.0.1:{GATEWAY_PORT}/graphql")
        say(f"logs:      {DEV_DIR / 'logs'}/<service>.log   data: {DEV_DIR}")
        say("Ctrl-C stops everything (data is kept).")
        await supervise(list(stack.children.values()), stop)
    except RuntimeError as error:
        say(f"!!! {error}")
        code = 1
    finally:
        say("stopping...")
        stack.stop()
        lock.close()
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
