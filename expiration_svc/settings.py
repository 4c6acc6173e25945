from __future__ import annotations

from pydantic import Field

from common.settings import ServiceSettings


class ExpirationSettings(ServiceSettings):
    """expiration_svc owns no MongoDB database: its timers live in Redis (run it with persistence on)."""

    # Serves only grpc.health.v1 and reflection, so probes work like on every other service.
    grpc_port: int = 50055
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Prefix of every Redis key this service writes (one Redis can hold several deployments).
    redis_prefix: str = "expiration"
    # The scheduler looks for due timers at least this often (and sooner when the next one is due sooner).
    poll_interval_seconds: float = Field(default=0.25, gt=0)
    # It never claims more often than this (unless a claim came back full): timers due within one tick go out
    # together, one claim and one batch of publishes, at the price of at most one tick of lateness.
    tick_seconds: float = Field(default=0.01, ge=0)
    # How long a replica owns the timers it claimed before another replica may fire them again.
    lease_seconds: float = Field(default=30, gt=0)
    # How many due timers one claim takes at most.
    batch_size: int = Field(default=1000, gt=0)
    # How long a fired or dropped order is remembered, so a late or redelivered order.created cannot re-arm it.
    tombstone_seconds: float = Field(default=86_400, gt=0)
    # After a failed publish, how long before the timer is tried again.
    retry_seconds: float = Field(default=1.0, gt=0)
