from __future__ import annotations

from pathlib import Path

from pydantic import Field

from common.events import MAX_TOKEN_TTL
from common.settings import MongoSettings


class AuthSettings(MongoSettings):
    grpc_port: int = 50051
    mongo_db: str = "auth"
    # Only auth_svc holds the private key. Required when ENVIRONMENT=prod; a dev pair is generated otherwise.
    jwt_private_key_file: Path | None = None
    # At most a week: revoked sessions are kept (SESSIONS stream) as long as the longest token lives.
    token_ttl_seconds: int = Field(default=86_400, gt=0, le=int(MAX_TOKEN_TTL.total_seconds()))
    # Password hashing bound (auth_svc.passwords): hashes at once, and how long a sign-in waits for a slot.
    hash_concurrency: int = Field(default=4, gt=0)
    hash_queue_seconds: float = Field(default=2.0, ge=0)
    hash_memory_kib: int = Field(default=19_456, ge=8_192)
