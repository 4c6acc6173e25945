"""Settings base: every service reads its configuration from environment variables (pydantic-settings).

Secrets have no production default: with ENVIRONMENT=prod a missing key file is an error at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_DIR = REPO_ROOT / ".dev"


class ConfigurationError(RuntimeError):
    """The process cannot start as configured; the message says how to fix it (printed without a traceback)."""


class ProcessSettings(BaseSettings):
    """What every process reads, the gateway included: its environment, log level and the event bus."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    # Log lines: JSON in prod unless set, readable text elsewhere (common.logs).
    log_format: Literal["text", "json"] | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    # This process's NATS user (common.natsauth; by default the process's own name) and its password. Required in
    # prod unless NATS_URL carries them: every user there is limited to its own subjects.
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    # Prometheus metrics (common.metrics), never on the gateway's public port: unset = off, 0 = a free port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    def nats_credentials(self) -> tuple[str | None, str | None]:
        """(user, password) for EventBus.connect / nats.connect; (None, None) leaves them to NATS_URL. In prod a
        process without a password does not start: every NATS user there has one."""
        if self.nats_password is None:
            if self.is_prod and urlsplit(self.nats_url).password is None:
                raise ConfigurationError("NATS_PASSWORD must be set when ENVIRONMENT=prod (this process's NATS user's)")
            return self.nats_user, None
        return self.nats_user, self.nats_password.get_secret_value()

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" if self.log_format is not None else self.is_prod


class ServiceSettings(ProcessSettings):
    """What every backend service needs besides: where it listens, the streams, token verification."""

    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    grace_seconds: float = Field(default=10.0, ge=0)
    # The most often a client may ping an idle connection (gRPC keepalive). The gateway pings every
    # GRPC_KEEPALIVE_SECONDS (30 s); a server that takes pings as too frequent answers GOAWAY "too many pings", which
    # fails the calls in flight on that connection. Keep it well below the clients' keepalive time.
    grpc_min_ping_interval_seconds: float = Field(default=10.0, gt=0)
    nats_stream_replicas: int = Field(default=1, ge=1, le=5)  # 3 on a 3-node JetStream cluster
    jwt_public_key_file: Path | None = None


class MongoSettings(ServiceSettings):
    """A service that owns a MongoDB database.

    MONGO_URL may point at a real MongoDB (a replica set, for transactions).
    """

    mongo_url: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = ""
    # How long an operation waits for an unreachable MongoDB before it fails (an event handler is then retried).
    mongo_timeout_seconds: float = Field(default=10.0, gt=0)
    # Event handlers running at once per consumer, each for other entities (common.bus lanes; common.runtime
    # `listen` says when more than one is used).
    event_lanes: int = Field(default=8, ge=1, le=256)
