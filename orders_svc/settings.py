from __future__ import annotations

from pydantic import Field

from common.settings import MongoSettings


class OrdersSettings(MongoSettings):
    grpc_port: int = 50053
    mongo_db: str = "orders"
    # How long a new order holds its ticket before it is cancelled unless paid (ORDER_EXPIRATION_SECONDS).
    order_expiration_seconds: int = Field(default=900, gt=0)
    # How long CreateOrder waits for a just-listed ticket to reach this service's replica before NOT_FOUND.
    ticket_arrival_wait_seconds: float = Field(default=2.0, ge=0)
    # A buyer holds at most this many CREATED (unpaid) orders at once; one more is CONFLICT (no hoarding).
    max_active_orders_per_buyer: int = Field(default=5, gt=0)
    # The sweep (a lost expiry's safety net): how often it looks for CREATED orders past their window, and how long
    # past the window an order must be, so the expiration service's timer normally wins.
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    sweep_grace_seconds: float = Field(default=60.0, ge=0)
