"""Start real NATS, Redis, MongoDB-compatible and Stripe-emulator servers on loopback ports.

Each server is a child process with its own data directory. `start_*` returns a `RunningServer`
that stops the process (and keeps or removes its data, as the caller chose) on `stop()`.
The same code starts the servers of `make dev` (fixed ports, data under `.dev/`) and of the
test fixtures (free ports, temporary directories), so both run exactly what production talks to.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common import natsauth

HOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    """A server process exited or did not open its port in time."""


def dying_with_parent(argv: Sequence[str]) -> list[str]:
    """`argv` run so that the child gets SIGTERM when its parent dies, even by SIGKILL.

    Without it, the servers and services of a `make dev` (or a test run) that was killed outright keep running
    and hold their ports. util-linux's `setpriv` sets the parent-death signal and then execs the command: a
    `preexec_fn` would run Python (and every library's at-fork handler) in a child forked from a process full of
    gRPC threads, which crashed it now and then with SIGSEGV before the exec.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:  # not Linux with util-linux: the children just outlive a killed parent
        return list(argv)
    return [setpriv, "--pdeathsig", "TERM", "--", *argv]


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _venv_bin(name: str) -> str:
    """Prefer the executable installed beside this interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServerStartError(f"{name} is not installed: run `make install`")
    return found


@dataclass
class RunningServer:
    name: str
    port: int
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    cleanup_dir: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    # NATS: every user's password (common.natsauth); `url` itself carries none, so it is refused.
    credentials: dict[str, str] = field(default_factory=dict)

    def url_as(self, user: str) -> str:
        """`url` with `user`'s credentials in it, e.g. nats://orders_svc:...@127.0.0.1:port (NATS only)."""
        if user not in self.credentials:
            raise KeyError(f"{self.name} has no user {user!r}")
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{user}:{self.credentials[user]}@{rest}"

    @property
    def admin_url(self) -> str:
        """The operator's address: no permission limits (tests acting for other services, the dead-letter CLI)."""
        return self.url_as(natsauth.ADMIN)

    def stop(self, timeout: float = 10.0) -> None:
        stop_all([self], timeout)

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.cleanup_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def freeze(self) -> None:
        """SIGSTOP: the server hangs with its connections open and answers nothing, as a stuck server does."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would; data stays for a restart."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def stop_all(running: Sequence[RunningServer], timeout: float = 10.0) -> None:
    """SIGTERM to every server at once, then SIGKILL to those still running after `timeout`."""
    for server in running:
        server.terminate()
    deadline = time.monotonic() + timeout
    for server in running:
        server.wait_or_kill(deadline)


def _launch(
    name: str, argv: list[str], port: int, data_dir: Path, url: str, *, cleanup_dir: bool, timeout: float
) -> RunningServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        dying_with_parent(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    server = RunningServer(name, port, url, data_dir, process, log_path, cleanup_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ServerStartError(f"{name} exited with {process.returncode}:\n{tail}")
        if port_open(port):
            return server
        time.sleep(0.05)
    server.stop()
    raise ServerStartError(f"{name} did not open port {port} within {timeout} s (log: {log_path})")


def start_nats(
    data_dir: Path,
    port: int | None = None,
    *,
    cleanup_dir: bool = False,
    passwords: Mapping[str, str] | None = None,
) -> RunningServer:
    """nats-server with JetStream and the users of common.natsauth: `passwords` (by user), or fresh random ones."""
    port = port or free_port()
    credentials = dict(passwords) if passwords is not None else natsauth.new_passwords()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "nats-auth.conf"
    config.touch(mode=0o600)
    config.write_text(natsauth.authorization_block(natsauth.literal_passwords(credentials)))
    argv = [
        _which("nats-server"), "-c", str(config), "-js", "-a", HOST, "-p", str(port),
        "-sd", str(data_dir / "jetstream"),
    ]  # fmt: skip
    server = _launch("nats", argv, port, data_dir, f"nats://{HOST}:{port}", cleanup_dir=cleanup_dir, timeout=15)
    server.credentials = credentials
    return server


def permission_violations(server: RunningServer) -> list[str]:
    """The lines of a NATS server's log where it refused a client something its user may not do (common.natsauth)."""
    text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
    return [line for line in text.splitlines() if "Publish Violation" in line or "Subscription Violation" in line]


def start_redis(data_dir: Path, port: int | None = None, *, cleanup_dir: bool = False) -> RunningServer:
    port = port or free_port()
    argv = [
        _which("redis-server"), "--port", str(port), "--bind", HOST, "--dir", str(data_dir),
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "yes",
    ]  # fmt: skip
    return _launch("redis", argv, port, data_dir, f"redis://{HOST}:{port}/0", cleanup_dir=cleanup_dir, timeout=15)


def start_mongo(data_dir: Path, port: int | None = None, *, cleanup_dir: bool = False) -> RunningServer:
    """nx-27017: a MongoDB wire-protocol server over SQLite, reached through the real PyMongo driver."""
    port = port or free_port()
    _remove_stale_pid_file(data_dir / "nx-27017.pid")
    argv = [
        _venv_bin("nx-27017"), "--host", HOST, "-p", str(port), "--data-dir", str(data_dir / "db"),
        "--log-file", str(data_dir / "nx-27017.log"), "--pid-file", str(data_dir / "nx-27017.pid"),
    ]  # fmt: skip
    return _launch("mongo", argv, port, data_dir, f"mongodb://{HOST}:{port}", cleanup_dir=cleanup_dir, timeout=20)


def start_stripe(data_dir: Path, port: int | None = None, *, cleanup_dir: bool = False) -> RunningServer:
    """localstripe, a Stripe API emulator. It binds all interfaces (it has no host flag); we only talk to loopback."""
    port = port or free_port()
    argv = [_venv_bin("localstripe"), "--port", str(port), "--from-scratch"]
    return _launch("stripe", argv, port, data_dir, f"http://{HOST}:{port}", cleanup_dir=cleanup_dir, timeout=30)


def _remove_stale_pid_file(pid_file: Path) -> None:
    """nx-27017 refuses to start while its pid file names a live process. After a crash that pid may be reused
    by an unrelated process (or be a zombie nobody reaped): only a running nx-27017 counts as alive."""
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        command, state = b"", ""
    if b"nx-27017" not in command or state == "Z":
        pid_file.unlink(missing_ok=True)


def _which(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServerStartError(f"{name} is not installed: run `make install` (Debian package {name})")


def restart(server: RunningServer) -> RunningServer:
    """Start the same server again on the same port and data (after `stop()` or `kill()`).

    The caller owns the returned server and must stop it: the fixture that made `server` only stops that one.
    """
    with contextlib.suppress(Exception):
        server.kill()
    if server.name == "nats":  # the same users and passwords: its clients reconnect as before
        return start_nats(server.data_dir, server.port, cleanup_dir=server.cleanup_dir, passwords=server.credentials)
    starters = {"redis": start_redis, "mongo": start_mongo, "stripe": start_stripe}
    return starters[server.name](server.data_dir, server.port, cleanup_dir=server.cleanup_dir)


@dataclass
class Restartable:
    """A server a test stops and starts again on the same port and data (an outage); `current` is the live one."""

    current: RunningServer

    @property
    def url(self) -> str:
        return self.current.url

    def stop(self) -> None:
        self.current.stop()

    def restart(self) -> None:
        self.current = restart(self.current)
