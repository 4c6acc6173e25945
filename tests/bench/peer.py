"""The peer gateway: Hive Gateway (Node; @graphql-hive/gateway + @omnigraph/grpc, exact versions in
tests/bench/peer/package-lock.json) serving GraphQL generated from our tickets proto, composed at bench time against
the stack's tickets_svc. Installed with `npm ci` into tests/bench/peer/node_modules when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

PEER = Path(__file__).resolve().parent / "peer"
BIN = PEER / "node_modules" / ".bin"
TICKET_FIELDS = "id title price_cents seller_id status version order_id"
GET = f"query($id: String) {{ ticketstore_tickets_v1_TicketsService_GetTicket(input: {{id: $id}}) {{ ticket {{ {TICKET_FIELDS} }} }} }}"  # noqa: E501
LIST_20 = "{ ticketstore_tickets_v1_TicketsService_ListTickets(input: {page_size: 20}) { edges { ticket { id title price_cents status } } has_next_page } }"  # noqa: E501


def available() -> str | None:
    """None when the peer can run, else why not (no node/npm, or the install failed)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not installed"
    if not (BIN / "hive-gateway").exists():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER, capture_output=True, text=True,
                              timeout=600, check=False)  # fmt: skip
        if done.returncode != 0:
            return f"npm ci failed: {done.stderr.strip()[-300:]}"
    return None


def compose(tickets_target: str, out: Path) -> None:
    """The supergraph of tickets_svc's gRPC API at `tickets_target` (mesh-compose with mesh.config.ts)."""
    subprocess.run([str(BIN / "mesh-compose"), "-o", str(out)], cwd=PEER, check=True, capture_output=True,
                   env={**os.environ, "TICKETS_ENDPOINT": tickets_target}, timeout=120)  # fmt: skip


def argv(supergraph: Path, port: int) -> list[str]:
    # One process (--fork 1), like our gateway; config from tests/bench/peer/gateway.config.ts.
    return [str(BIN / "hive-gateway"), "supergraph", str(supergraph), "--port", str(port), "--host", "127.0.0.1",
            "--fork", "1", "--config-path", str(PEER / "gateway.config.ts")]  # fmt: skip


def get_bodies(ticket_ids: list[str]) -> list[dict[str, Any]]:
    return [{"query": GET, "variables": {"id": ticket_id}} for ticket_id in ticket_ids]


def env() -> dict[str, str]:
    return {"NODE_ENV": "production", "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
