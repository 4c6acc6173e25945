"""A newcomer's first `make dev`: the dev stack's own entry point, started from an EMPTY data folder (no keys, no
databases), with every service loading its keys at the same moment; then the README tour through the gateway, a
dead embedded server restarted, and nothing left running after `make dev` itself is killed outright."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.devstack import SERVICES, DevSettings
from common.settings import REPO_ROOT
from common.testing import servers
from tests.client import Client, eventually
from tests.helpers import CREATE_TICKET, MY_ORDERS, PAY, TICKET, order_when_listed

pytestmark = pytest.mark.e2e

HARNESS = Path(__file__).parent / "first_run"  # sitecustomize.py: every key load at the same moment
START_TIMEOUT = 120.0


@dataclass
class DevRun:
    process: subprocess.Popen[str]
    output: Path
    ports: dict[str, int]
    data_dir: Path

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    async def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.process.poll() is None, f"make dev exited:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} from make dev in {timeout} s:\n{self.log()[-3000:]}"
            await asyncio.sleep(0.2)

    def descendants(self) -> set[int]:
        """Every process started by `make dev` (they are in sessions of their own, so not in its group)."""
        found: set[int] = set()
        frontier = [self.process.pid]
        while frontier:
            pid = frontier.pop()
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    children = (task / "children").read_text().split()
                    found.update(int(child) for child in children)
                    frontier.extend(int(child) for child in children)
        return found

    def server_pid(self, command_part: str) -> int:
        for pid in self.descendants():
            with contextlib.suppress(OSError):
                if command_part.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
        raise AssertionError(f"no {command_part} process under make dev")


@pytest.fixture
def first_run(tmp_path: Path) -> Iterator[DevRun]:
    data_dir = tmp_path / "dev"  # does not exist yet: nothing from an earlier run
    ports = {name: servers.free_port() for name in DevSettings().ports()}
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JWT_", "DEV_"))}
    for variable in ("MONGO_URL", "NATS_URL", "REDIS_URL", "STRIPE_API_BASE", "ENVIRONMENT", "GATEWAY_PORT"):
        env.pop(variable, None)
    env.update({f"DEV_{name.removesuffix('_svc').upper()}_PORT": str(port) for name, port in ports.items()})
    env.update({
        "DEV_DIR": str(data_dir),
        "PYTHONPATH": str(HARNESS),
        "KEY_LOAD_BARRIER_DIR": str(tmp_path / "barrier"),
        "KEY_LOAD_PARTIES": str(len(SERVICES)),
    })  # fmt: skip
    output = tmp_path / "make-dev.out"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "common.devstack"], cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
    run = DevRun(process, output, ports, data_dir)
    try:
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def sign_up(client: Client, name: str) -> None:
    await client.sign_up(f"{name}-{uuid.uuid4().hex[:8]}@example.com")


async def test_a_first_make_dev_serves_the_tour_and_leaves_nothing_behind(first_run: DevRun) -> None:
    await first_run.wait_for_output("ready.", START_TIMEOUT)
    assert (first_run.data_dir / "keys" / "jwt-public.pem").exists()

    seller, buyer = Client(first_run.gateway), Client(first_run.gateway)
    try:
        await sign_up(seller, "seller")
        ticket = (await seller.execute(CREATE_TICKET, {"t": "First run", "p": 2500}))["createTicket"]
        assert ticket["status"] == "AVAILABLE"
        await sign_up(buyer, "buyer")
        order = await order_when_listed(buyer, ticket["id"])
        payment = (await buyer.execute(PAY, {"id": order["id"], "pm": "pm_card_visa"}))["payOrder"]
        assert payment["amountCents"] == 2500

        async def sold() -> None:
            mine = (await buyer.execute(MY_ORDERS))["myOrders"]
            assert [o["status"] for o in mine] == ["COMPLETE"]
            assert (await seller.execute(TICKET, {"id": ticket["id"]}))["ticket"]["status"] == "SOLD"

        await eventually(sold, timeout=20)

        # An embedded server that dies is reported and restarted, like a service.
        os.kill(first_run.server_pid("nx-27017"), signal.SIGKILL)
        await first_run.wait_for_output("mongo exited", 10)
        await first_run.wait_for_output("restarting mongo", 10)

        async def listed_again() -> None:
            await seller.execute(CREATE_TICKET, {"t": "After the restart", "p": 900})

        await eventually(listed_again, timeout=30)
    finally:
        await seller.close()
        await buyer.close()

    # `make dev` killed outright (a closed terminal, SIGKILL): none of its children may outlive it.
    children = first_run.descendants()
    assert len(children) >= 10  # four servers, five services, the gateway
    first_run.process.kill()
    first_run.process.wait()

    def alive() -> set[int]:
        left = set()
        for pid in children:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    left.add(pid)
        return left

    async def all_gone() -> None:
        assert not alive(), f"still running after make dev was killed: {alive()}"
        assert not [name for name, port in first_run.ports.items() if servers.port_open(port)]

    await eventually(all_gone, timeout=30)
