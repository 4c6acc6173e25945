from __future__ import annotations

from common.settings import MongoSettings


class TicketsSettings(MongoSettings):
    grpc_port: int = 50052
    mongo_db: str = "tickets"
