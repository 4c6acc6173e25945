"""`make dev`: the whole stack on this machine, in the foreground.

First creates what a first run needs (`common.firstrun`: the development key pair), then starts NATS (JetStream),
Redis (AOF), the MongoDB-compatible server and the Stripe emulator with data under `.dev/`, then the five services
and the gateway; waits until each is healthy; prints the addresses. A server or service that exits is reported
loudly and restarted (with a growing pause; after 5 quick crashes in a row the whole stack stops). Ctrl-C, SIGTERM
or SIGHUP stops everything it started, all at once, within a bound (`Stack.stop`); the data stays for the next run.
Every child also dies with this process if it is killed outright (SIGKILL, a closed terminal), so a next `make dev`
never finds their ports taken.

Set MONGO_URL, NATS_URL, REDIS_URL or STRIPE_API_BASE to use servers of your own instead of the embedded ones;
DEV_DIR and the DEV_*_PORT variables move the data folder and the ports (`DevSettings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import firstrun
from common.settings import DEV_DIR
from common.testing import servers
from common.testing.servers import RunningServer, dying_with_parent

SERVICES = ["auth_svc", "tickets_svc", "orders_svc", "payments_svc", "expiration_svc"]
MAX_QUICK_CRASHES = 5
QUICK_CRASH_SECONDS = 30
DEV_GRACE_SECONDS = "2"  # in-flight calls get this long on stop (production: GRACE_SECONDS, 10 s by default)
STOP_MARGIN_SECONDS = 5.0  # after its grace, a child that has not exited is killed


class DevSettings(BaseSettings):
    """Where `make dev` keeps its data and which ports it uses. The ports sit away from the defaults, so a system
    NATS (4222) or Redis (6379) on the machine is never touched."""

    model_config = SettingsConfigDict(env_prefix="DEV_", extra="ignore", frozen=True)

    dir: Path = DEV_DIR
    nats_port: int = 14222
    redis_port: int = 16379
    mongo_port: int = 27017
    stripe_port: int = 12111
    auth_port: int = 50051
    tickets_port: int = 50052
    orders_port: int = 50053
    payments_port: int = 50054
    expiration_port: int = 50055
    gateway_port: int = Field(default=8000, validation_alias=AliasChoices("DEV_GATEWAY_PORT", "GATEWAY_PORT"))
    # Each process's Prometheus metrics (METRICS_PORT), keyed in ports() by metrics_key(process).
    auth_metrics_port: int = 19101
    tickets_metrics_port: int = 19102
    orders_metrics_port: int = 19103
    payments_metrics_port: int = 19104
    expiration_metrics_port: int = 19105
    gateway_metrics_port: int = 19100

    def ports(self) -> dict[str, int]:
        return {
            "nats": self.nats_port, "redis": self.redis_port, "mongo": self.mongo_port, "stripe": self.stripe_port,
            "auth_svc": self.auth_port, "tickets_svc": self.tickets_port, "orders_svc": self.orders_port,
            "payments_svc": self.payments_port, "expiration_svc": self.expiration_port, "gateway": self.gateway_port,
            "auth_metrics": self.auth_metrics_port, "tickets_metrics": self.tickets_metrics_port,
            "orders_metrics": self.orders_metrics_port, "payments_metrics": self.payments_metrics_port,
            "expiration_metrics": self.expiration_metrics_port, "gateway_metrics": self.gateway_metrics_port,
        }  # fmt: skip


def metrics_key(process: str) -> str:
    """The ports() key of a process's metrics port ("orders_svc" -> "orders_metrics")."""
    return f"{process.removesuffix('_svc')}_metrics"


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
        # Its own session, so a Ctrl-C in the terminal reaches only us and we stop the children in order; and it
        # dies with us, so a `make dev` killed outright leaves nothing behind.
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(dying_with_parent(self.argv), env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)  # fmt: skip
        self.started_at = time.monotonic()

    def stop(self, timeout: float = 15) -> None:
        self.terminate()
        self.wait_or_kill(time.monotonic() + timeout)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in time; killing it")
            self.process.kill()
            self.process.wait()


def take_lock(data_dir: Path) -> IO[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / "devstack.lock").open("a+")  # not "w": the loser must not wipe the holder's pid
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
    files: firstrun.FirstRunFiles | None = None  # made by prepare()

    @property
    def first_run(self) -> firstrun.FirstRunFiles:
        if self.files is None:
            raise RuntimeError("Stack.prepare() makes the first-run files; call it first")
        return self.files

    @property
    def nats_admin_url(self) -> str:
        """The embedded NATS as the operator (no limits): the tests' checks and stand-ins, the dead-letter CLI."""
        return self.server("nats").admin_url

    @classmethod
    def on_free_ports(cls, data_dir: Path, env: dict[str, str]) -> Stack:
        return cls(data_dir, {name: servers.free_port() for name in DevSettings().ports()}, env)

    def prepare(self) -> None:
        """Create what a first run needs, once, before any process starts (services only read it)."""
        files = firstrun.prepare(self.data_dir)
        self.files = files
        for variable, value in files.service_env().items():
            self.env.setdefault(variable, value)  # keys of the caller's own win

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
            if name == "nats":  # with the first run's users: each process connects as its own (common.natsauth)
                server = servers.start_nats(
                    self.data_dir / name, self.ports[name], passwords=self.first_run.nats_passwords
                )
            else:
                server = start(self.data_dir / name, self.ports[name])
            self.servers.append(server)
            self.env[variable] = server.url
            if name == "stripe":  # the emulator also serves a stand-in for Stripe.js, for the web client
                self.env.setdefault("STRIPE_JS_URL", f"{server.url}/js.stripe.com/v3/")
            say(f"{name}: {server.url} (data in {self.data_dir / name})")
            if name == "nats":
                say(f"nats: one user per process; passwords in {self.data_dir / 'secrets'} (admin: the operator's)")

    def service_env(self) -> dict[str, str]:
        env = dict(self.env)
        env.setdefault("ENVIRONMENT", "dev")
        env.setdefault("STRIPE_API_KEY", "sk_test_local_emulator")
        env.setdefault("GRACE_SECONDS", DEV_GRACE_SECONDS)
        for name in SERVICES:
            env[f"{name.removesuffix('_svc').upper()}_GRPC_TARGET"] = f"127.0.0.1:{self.ports[name]}"
        return env

    def start_services(self) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = self.service_env()
        processes = [*SERVICES, "gateway"]
        check_ports_free({key: self.ports[key] for name in processes for key in (name, metrics_key(name))})
        for name in SERVICES:
            port_env = {"GRPC_PORT": str(self.ports[name]), "METRICS_PORT": str(self.metrics_port(name))}
            child_env = {**env, **port_env, **self.nats_env(name)}
            self.children[name] = Child(name, [sys.executable, "-m", name], child_env, logs / f"{name}.log")
        gateway_env = {
            **env,
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "METRICS_PORT": str(self.metrics_port("gateway")),
            **self.nats_env("gateway"),
        }
        self.children["gateway"] = Child(
            "gateway", [sys.executable, "-m", "gateway"], gateway_env, logs / "gateway.log"
        )
        for child in self.children.values():
            child.start()

    def nats_env(self, user: str) -> dict[str, str]:
        """NATS_USER/NATS_PASSWORD of one process when the NATS is ours; with NATS_URL set, the caller's env says."""
        if "NATS_USER" in self.env or not any(server.name == "nats" for server in self.servers):
            return {}
        return self.first_run.nats_env(user)

    def metrics_port(self, process: str) -> int:
        return self.ports[metrics_key(process)]

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

    def restart_server(self, index: int) -> None:
        """Start a server that died again, on the same port and data."""
        self.servers[index] = servers.restart(self.servers[index])

    def server(self, name: str) -> RunningServer:
        """The running server called `name` (nats, redis, mongo, stripe)."""
        return next(server for server in self.servers if server.name == name)

    def restart_server_named(self, name: str) -> None:
        self.restart_server(next(i for i, server in enumerate(self.servers) if server.name == name))

    def stop(self) -> None:
        """Stop everything, bounded: every service and the gateway get SIGTERM at once and their grace
        (GRACE_SECONDS) plus a margin before SIGKILL; then every server at once, 10 s before SIGKILL. So a stop
        takes about as long as the slowest process, at most grace + 15 s, instead of the sum of them all."""
        grace = float(self.service_env()["GRACE_SECONDS"])
        children = list(self.children.values())
        for child in children:
            child.terminate()
        deadline = time.monotonic() + grace + STOP_MARGIN_SECONDS
        for child in children:
            child.wait_or_kill(deadline)
        servers.stop_all(self.servers)


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


@dataclass
class CrashCounter:
    """Quick crashes in a row, per process name: a process that keeps dying stops the stack."""

    started_at: dict[str, float] = field(default_factory=dict)
    quick: dict[str, int] = field(default_factory=dict)

    def started(self, name: str) -> None:
        self.started_at[name] = time.monotonic()

    def crashed(self, name: str) -> int:
        """Record a crash; return how many quick ones in a row this makes."""
        quick = time.monotonic() - self.started_at.get(name, 0.0) < QUICK_CRASH_SECONDS
        self.quick[name] = self.quick.get(name, 0) + 1 if quick else 1
        return self.quick[name]


def report_exit(name: str, code: int | None, log_path: Path) -> None:
    say(f"!!! {name} exited with code {code}; last log lines from {log_path}:")
    with contextlib.suppress(OSError):
        for line in log_path.read_text(errors="replace").splitlines()[-15:]:
            print(f"    {line}", flush=True)


async def supervise(stack: Stack, stop: asyncio.Event) -> None:
    """Restart a server or child that exits (servers first: services depend on them); give up (stopping
    everything) after repeated quick crashes of one of them. Polling also reaps the dead process at once."""
    crashes = CrashCounter()
    for name in [server.name for server in stack.servers] + list(stack.children):
        crashes.started(name)
    while not stop.is_set():
        exited: list[tuple[str, int | None, Path, Callable[[], None]]] = []
        for index, server in enumerate(stack.servers):
            if (code := server.process.poll()) is not None:
                exited.append((server.name, code, server.log_path, functools.partial(stack.restart_server, index)))
        for child in stack.children.values():
            assert child.process is not None
            if (code := child.process.poll()) is not None:
                exited.append((child.name, code, child.log_path, child.start))
        for name, code, log_path, restart in exited:
            report_exit(name, code, log_path)
            count = crashes.crashed(name)
            if count >= MAX_QUICK_CRASHES:
                say(f"!!! {name} keeps crashing; stopping the stack")
                stop.set()
                return
            pause = min(10.0, 0.5 * 2**count)
            say(f"restarting {name} in {pause:.1f} s")
            await asyncio.sleep(pause)
            try:
                await asyncio.to_thread(restart)
            except servers.ServerStartError as error:
                say(f"!!! {name} did not start again: {error}")
                continue  # counted as a crash on the next round
            crashes.started(name)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def main() -> int:
    settings = DevSettings()
    lock = take_lock(settings.dir)
    stack = Stack(settings.dir, settings.ports())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        stack.prepare()
        stack.start_infrastructure()
        stack.start_services()
        if not await unless_stopped(stack.wait_healthy(), stop):
            return code
        gateway = f"http://127.0.0.1:{stack.ports['gateway']}"
        say("")
        say(f"web:       {gateway}/")
        say(f"GraphiQL:  {gateway}/graphql")
        for name in stack.children:
            say(f"metrics:   {name:<15} http://127.0.0.1:{stack.metrics_port(name)}/metrics")
        say(f"logs:      {settings.dir / 'logs'}/<service>.log   data: {settings.dir}")
        say("ready. Ctrl-C stops everything (data is kept).")
        await supervise(stack, stop)
    except RuntimeError as error:
        say(f"!!! {error}")
        code = 1
    finally:
        say("stopping...")
        began = time.monotonic()
        stack.stop()
        lock.close()
        say(f"stopped in {time.monotonic() - began:.1f} s")
    return code


async def unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` is set first (a Ctrl-C during start-up); True when it finished."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()
    return True


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
