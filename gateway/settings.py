"""The gateway's configuration, from environment variables (no prefix), like every service's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=0, le=65535)

    auth_grpc_target: str = "127.0.0.1:50051"
    tickets_grpc_target: str = "127.0.0.1:50052"
    orders_grpc_target: str = "127.0.0.1:50053"
    payments_grpc_target: str = "127.0.0.1:50054"
    grpc_timeout_seconds: float = Field(default=10.0, gt=0)
    readiness_timeout_seconds: float = Field(default=1.0, gt=0)
    nats_url: str = "nats://127.0.0.1:4222"

    cookie_name: str = "session"
    # Default: Secure everywhere except local dev and tests (plain-HTTP loopback); see _default_cookie_secure.
    cookie_secure: bool = True
    session_max_age_seconds: int = Field(default=86_400, gt=0)

    max_query_depth: int = Field(default=12, gt=0)
    max_aliases: int = Field(default=30, ge=0)
    max_document_bytes: int = Field(default=16_384, gt=0)
    # The whole HTTP body (document + variables) or websocket message; refused with 413 before it is read in full.
    max_body_bytes: int = Field(default=65_536, gt=0)
    # Subscriptions: events buffered per subscriber before a slow client is dropped.
    subscriber_queue_size: int = Field(default=256, gt=0)
    max_subscriptions_per_connection: int = Field(default=20, gt=0)
    # Origins (besides the gateway's own) whose pages may open a websocket with the user's cookie.
    ws_allowed_origins: list[str] = Field(default_factory=list)
    graceful_shutdown_seconds: int = Field(default=5, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _default_cookie_secure(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("cookie_secure") is None:
            environment = data.get("environment", "dev")
            return {**data, "cookie_secure": environment not in ("dev", "test")}
        return data

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"
