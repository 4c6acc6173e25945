"""The frame writer (gateway.frames) against a real uvicorn server and a real websocket client (the `websockets`
library): frames of every length encoding decode to what was written, non-ASCII text included, in order with what
uvicorn itself sends, with and without permessage-deflate negotiated; and no writer where it cannot apply."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect

from gateway.frames import DirectProtocol, FrameWriter, text_frame

TEXTS = [
    "",
    "a",
    "x" * 125,  # the longest 7-bit length
    "y" * 126,  # the shortest 16-bit length
    "é€😀" * 50,  # non-ASCII: 450 bytes of UTF-8, 150 characters
    "z" * 65_535,  # the longest 16-bit length
    "w" * 65_536,  # the shortest 64-bit length
    "ünïcode " * 20_000,  # 200,000 bytes, non-ASCII
]


async def frame_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts, then for each text received answers what the writer can do, writes every TEXTS entry directly, and
    one message through ASGI after them (to "direct only": the TEXTS entries alone)."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        writer = FrameWriter.of(scope)
        if message.get("text") == "direct only":  # nothing sent through ASGI after them
            assert writer is not None
            for text in TEXTS:
                writer.write(text_frame(text.encode()), batched=True)
            continue
        await send({"type": "websocket.send", "text": json.dumps({"writer": writer is not None})})
        if writer is not None:
            for i, text in enumerate(TEXTS):
                assert writer.ready
                writer.write(text_frame(text.encode()), batched=i % 3 == 1)  # at once or at the turn's end, mixed
        await send({"type": "websocket.send", "text": "after, through ASGI"})


@contextlib.asynccontextmanager
async def serve(ws: Any) -> AsyncIterator[str]:
    config = uvicorn.Config(frame_app, host="127.0.0.1", port=0, ws=ws, ws_max_size=1 << 20, lifespan="off",
                            log_config=None)  # fmt: skip
    listening = config.bind_socket()
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{listening.getsockname()[1]}/"
    finally:
        server.should_exit = True
        await serving


@pytest.mark.integration
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_written_frames_decode_in_order_with_uvicorns_own(compression: str | None) -> None:
    async with serve(DirectProtocol) as url, connect(url, compression=compression, max_size=1 << 20) as client:
        negotiated = client.response.headers.get("Sec-WebSocket-Extensions") if client.response else None
        assert (negotiated is not None) == (compression == "deflate")  # deflate was in use where offered
        for _ in range(2):  # twice: the compressor's context is intact around the uncompressed frames
            await client.send("go")
            assert json.loads(await client.recv()) == {"writer": True}
            for text in TEXTS:
                assert await client.recv() == text
            assert await client.recv() == "after, through ASGI"


@pytest.mark.integration
async def test_frames_written_in_one_turn_go_out_at_its_end() -> None:
    async with serve(DirectProtocol) as url, connect(url, max_size=1 << 20) as client:
        await client.send("direct only")
        for text in TEXTS:
            assert await client.recv() == text


@pytest.mark.integration
async def test_no_writer_on_uvicorns_plain_protocol() -> None:
    async with serve("websockets-sansio") as url, connect(url) as client:
        await client.send("go")
        assert json.loads(await client.recv()) == {"writer": False}  # the caller sends through ASGI
        assert await client.recv() == "after, through ASGI"


def test_frame_headers() -> None:
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"a" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame(b"a" * 65_536)[:10] == b"\x81\x7f" + (65_536).to_bytes(8, "big")
