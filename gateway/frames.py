"""Pre-framed websocket text messages written straight to a connection's transport: the live fan-out's send path
(gateway.shared). One ticket change goes to a thousand sockets, and uvicorn's send path per message (an ASGI message
dict, Starlette's WebSocket layers, a websockets Frame object and its serializer, a bytes join) cost more CPU than the
socket write itself.

uvicorn stays the server: `DirectProtocol` is its websockets-sansio protocol, which offers itself to the app as an
ASGI scope extension once the handshake is accepted. `FrameWriter.of(scope)` is None where it cannot apply (another
server or protocol, an in-process test client, an extension whose framing this module does not write: any but
permessage-deflate, because RFC 7692 lets a message go uncompressed, RSV1 unset, on a connection that negotiated
compression, and the compressor's context only ever holds the messages it compressed); the caller then sends
through ASGI as before. Everything else (handshake, pings, close) stays on uvicorn's path.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.http11 import Request
from websockets.protocol import State

EXTENSION = "ticketstore.frame_writer"  # the ASGI scope extension naming the connection's protocol
UNCOMPRESSED_OK = frozenset({"permessage-deflate"})  # extensions under which an unflagged text frame is valid


def text_frame(payload: bytes) -> bytes:
    """One final text frame holding `payload` (UTF-8): unmasked, as a server sends it (RFC 6455 5.1), RSV bits unset
    (not compressed), the length in 7 bits, or 16 or 64 bits after the marker 126 or 127 (5.2)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 0x10000:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


class DirectProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, offering a `FrameWriter` to the app through the scope.

    Frames written `batched` within one turn of the event loop go out in ONE transport write at the end of the turn
    (a burst of changes to many tickets puts several frames on a socket that watches several: one system call, not
    one each), by one callback for all the server's connections (`FrameBatch`); others go out at once (a socket
    that can get one frame per turn saves nothing by waiting), after anything pending.
    Whatever the app sends through ASGI first pushes them out, so the order on the wire is the order of the calls;
    once a close is sent or received, what is pending is dropped (no data after a close frame)."""

    def __init__(self, config: Config, server_state: ServerState, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, server_state, *args, **kwargs)
        self._pending: list[bytes] = []
        batch = BATCHES.get(server_state)
        if batch is None:
            batch = BATCHES[server_state] = FrameBatch(self.loop)
        self._batch = batch

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = cast(dict[str, Any] | None, getattr(self, "scope", None))  # set only when the app is to run
        if scope is not None:
            scope["extensions"][EXTENSION] = {"protocol": self}

    async def send(self, message: Any) -> None:
        self.flush()
        await super().send(message)

    def write_frame(self, frame: bytes, batched: bool) -> None:
        if batched:
            if not self._pending:
                self._batch.add(self)
            self._pending.append(frame)
        elif self._pending:
            self._pending.append(frame)
            self.flush()
        else:
            self.transport.write(frame)

    def flush(self) -> None:
        if not self._pending:
            return
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        if self.conn.state is State.OPEN and not self.close_sent and not self.transport.is_closing():
            self.transport.write(data)


class FrameBatch:
    """The connections of one server with frames pending in this turn of the loop, flushed by ONE callback at its
    end (one callback per connection would cost more than the write it saves where each gets one frame)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[DirectProtocol] = []

    def add(self, protocol: DirectProtocol) -> None:
        if not self._dirty:
            self._loop.call_soon(self._flush)
        self._dirty.append(protocol)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for protocol in dirty:
            protocol.flush()  # a no-op where an ASGI send flushed it already


BATCHES: weakref.WeakKeyDictionary[ServerState, FrameBatch] = weakref.WeakKeyDictionary()  # one per server


class FrameWriter:
    """Writes pre-framed text messages to one `DirectProtocol` connection's transport, in order with what uvicorn
    writes (the same transport, from the same event loop)."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: DirectProtocol) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, scope: Mapping[str, Any]) -> FrameWriter | None:
        offered = scope.get("extensions", {}).get(EXTENSION)
        protocol = offered.get("protocol") if isinstance(offered, dict) else None
        if not isinstance(protocol, DirectProtocol):
            return None
        if any(extension.name not in UNCOMPRESSED_OK for extension in protocol.conn.extensions):
            return None
        return cls(protocol)

    @property
    def ready(self) -> bool:
        """Whether a frame may be written now: the connection open (no close sent or received), and the transport
        below its high-water mark. When not, the caller queues (bounded) and sends through ASGI, which waits for the
        transport to drain: flow control, and a client too slow is dropped as on the usual path."""
        protocol = self._protocol
        return (
            protocol.writable.is_set()
            and not protocol.close_sent
            and not protocol.disconnected
            and protocol.conn.state is State.OPEN
        )

    def write(self, frame: bytes, *, batched: bool = False) -> None:
        """Write `frame` now, or (`batched`) with the others written to this connection in this turn, at its end."""
        self._protocol.write_frame(frame, batched)
