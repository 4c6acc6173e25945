"""Operator tool for the dead-letter stream: `python -m common.deadletters list|replay SEQ [--nats URL]`,
as the NATS user admin (NATS_PASSWORD, or credentials in the URL): no service may read or delete dead letters.

A dead letter keeps the original payload, subject, the failing consumer and its last error. Replaying publishes
the payload again on its original subject (every consumer of that subject sees it; replicas ignore what they
already applied), then deletes the dead letter.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from nats.js.errors import NotFoundError

from common import events, natsauth
from common.bus import ERROR_HEADER, ORIGINAL_SUBJECT_HEADER, EventBus
from common.settings import ProcessSettings


async def list_letters(bus: EventBus, limit: int) -> list[tuple[int, str, str, str]]:
    info = await bus.js.stream_info(events.DEAD_LETTERS.name)
    found: list[tuple[int, str, str, str]] = []
    if not info.state.messages:  # an empty stream reports first_seq 0, which is no sequence at all
        return found
    seq = info.state.first_seq
    while seq <= info.state.last_seq and len(found) < limit:
        try:
            msg = await bus.js.get_msg(events.DEAD_LETTERS.name, seq)
        except NotFoundError:  # deleted sequence numbers leave gaps
            seq += 1
            continue
        headers = msg.headers or {}
        consumer = (msg.subject or "").removeprefix("deadletter.").split(".", 1)[0]
        found.append((seq, consumer, headers.get(ORIGINAL_SUBJECT_HEADER, "?"), headers.get(ERROR_HEADER, "")))
        seq += 1
    return found


async def replay(bus: EventBus, seq: int) -> str:
    msg = await bus.js.get_msg(events.DEAD_LETTERS.name, seq)
    subject = str((msg.headers or {}).get(ORIGINAL_SUBJECT_HEADER, ""))
    if subject not in events.PAYLOADS:
        raise SystemExit(f"dead letter {seq} has no known original subject")
    await bus.publish_raw(subject, msg.data or b"", f"replay:{seq}")
    await bus.js.delete_msg(events.DEAD_LETTERS.name, seq)
    return subject


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.deadletters", description=__doc__)
    parser.add_argument("--nats", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="show dead letters")
    listing.add_argument("--limit", type=int, default=100)
    again = commands.add_parser("replay", help="publish a dead letter again on its original subject")
    again.add_argument("seq", type=int)
    args = parser.parse_args(argv)
    user, password = ProcessSettings().nats_credentials()  # NATS_USER / NATS_PASSWORD: the operator's, admin
    bus = await EventBus.connect(args.nats, "deadletters-cli", user=user or natsauth.ADMIN, password=password)
    try:
        if args.command == "list":
            for seq, consumer, subject, error in await list_letters(bus, args.limit):
                print(f"{seq}\t{consumer}\t{subject}\t{error}")
        else:
            print(f"replayed {args.seq} on {await replay(bus, args.seq)}")
    finally:
        await bus.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
