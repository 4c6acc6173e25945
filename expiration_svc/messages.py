"""Expirations as protobuf messages: the `expiration.complete` event."""

from __future__ import annotations

import datetime as dt

from common.timestamps import to_timestamp
from ticketstore.events.v1 import expiration_pb2


def expiration_complete(order_id: str, at: dt.datetime) -> expiration_pb2.ExpirationComplete:
    return expiration_pb2.ExpirationComplete(order_id=order_id, occur_time=to_timestamp(at))
