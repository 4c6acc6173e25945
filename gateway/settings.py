"""The gateway's configuration, from environment variables (no prefix), on the common base every process shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from limits import parse
from pydantic import Field, field_validator, model_validator

from common.settings import REPO_ROOT, ProcessSettings

DEV_STRIPE_PUBLISHABLE_KEY = "pk_test_local_emulator"


class GatewaySettings(ProcessSettings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=0, le=65535)

    auth_grpc_target: str = "127.0.0.1:50051"
    tickets_grpc_target: str = "127.0.0.1:50052"
    orders_grpc_target: str = "127.0.0.1:50053"
    payments_grpc_target: str = "127.0.0.1:50054"
    grpc_timeout_seconds: float = Field(default=10.0, gt=0)
    readiness_timeout_seconds: float = Field(default=1.0, gt=0)

    # Defaults per environment (see _environment_defaults): `__Host-session` and Secure in prod, where browsers
    # then refuse the cookie from plain HTTP or another path; `session`, not Secure, on plain-HTTP loopback.
    cookie_name: str = "session"
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
    # Public reads kept until a ticket changes (gateway.responses): how many answers; 0 turns the cache off.
    response_cache_size: int = Field(default=1024, ge=0)
    # Origins (besides the gateway's own) whose pages may open a websocket with the user's cookie.
    ws_allowed_origins: list[str] = Field(default_factory=list)
    graceful_shutdown_seconds: int = Field(default=5, ge=0)
    # Developer tools: on outside prod, off in prod unless set (see _environment_defaults).
    graphiql_enabled: bool = True
    introspection_enabled: bool = True

    # Rate limits (gateway.ratelimits), in `limits` notation ("5/15 minutes"), shared by the replicas in Redis.
    redis_url: str = "redis://127.0.0.1:6379/0"
    rate_limit_key_prefix: str = "ticketstore-limits"
    failed_sign_ins_per_email: str = "5/15 minutes"
    failed_sign_ins_per_address: str = "5/15 minutes"
    # Sign-ups and sign-ins together. High enough for the whole test suite from one machine's one address.
    auth_attempts_per_address: str = "1000/10 minutes"
    create_orders_per_user: str = "30/minute"
    # The client address is the TCP peer. Behind a reverse proxy, name the header it sets (e.g. X-Forwarded-For;
    # its last entry is used: the address the proxy saw). Never set it without such a proxy: clients could
    # then choose their own address.
    client_address_header: str = ""
    # Tokens are verified here too (the services stay the authority), to key per-user limits by a real user.
    jwt_public_key_file: Path | None = None

    # Persisted operations: sha256 hex of a document -> the document (missing file = no known documents).
    persisted_documents_file: Path = REPO_ROOT / "web" / "persisted-documents.json"
    trusted_documents_only: bool = False

    # The web client: its built files, and what it reads at run time from /client-config.json (nothing secret).
    web_dist_dir: Path = REPO_ROOT / "web" / "dist"
    stripe_js_url: str = "https://js.stripe.com/v3/"
    stripe_publishable_key: str = DEV_STRIPE_PUBLISHABLE_KEY

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        prod = data.get("environment", "dev") == "prod"
        defaults: dict[str, Any] = {
            "cookie_name": "__Host-session" if prod else "session",
            "cookie_secure": prod,
            "graphiql_enabled": not prod,
            "introspection_enabled": not prod,
        }
        if prod and not data.get("stripe_publishable_key"):
            raise ValueError("STRIPE_PUBLISHABLE_KEY is required with ENVIRONMENT=prod")
        return {**data, **{key: value for key, value in defaults.items() if data.get(key) is None}}

    @field_validator(
        "failed_sign_ins_per_email", "failed_sign_ins_per_address", "auth_attempts_per_address",
        "create_orders_per_user",
    )  # fmt: skip
    @classmethod
    def _a_limit(cls, value: str) -> str:
        parse(value)  # ValueError names what is wrong
        return value

    @model_validator(mode="after")
    def _publishable_key_only(self) -> GatewaySettings:
        # The key is sent to every browser: a secret key (sk_/rk_) here would leak it.
        if not self.stripe_publishable_key.startswith("pk_"):
            raise ValueError("STRIPE_PUBLISHABLE_KEY must be a publishable key (pk_test_... or pk_live_...)")
        return self

    @property
    def stripe_test_mode(self) -> bool:
        return self.stripe_publishable_key.startswith("pk_test_")
