"""Wiring: the one place where auth_svc's parts are built and connected."""

from __future__ import annotations

import datetime as dt

from auth_svc.operations import Accounts
from auth_svc.passwords import HashingLimits, Passwords
from auth_svc.servicer import AuthServicer
from auth_svc.settings import AuthSettings
from auth_svc.store import UserStore
from common.clock import Clock, SystemClock
from common.runtime import Runtime, RuntimeApp
from common.tokens import load_issuer
from ticketstore.auth.v1 import auth_pb2, auth_pb2_grpc

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


class AuthApp(RuntimeApp):
    def __init__(self, settings: AuthSettings, *, clock: Clock | None = None) -> None:
        self.runtime = Runtime("auth_svc", settings)
        self.store = UserStore(self.runtime.mongo, settings.mongo_db, lambda: self.runtime.outbox)
        issuer = load_issuer(
            settings.jwt_private_key_file, dt.timedelta(seconds=settings.token_ttl_seconds), is_prod=settings.is_prod
        )
        self.passwords = Passwords(
            HashingLimits(settings.hash_concurrency, settings.hash_queue_seconds, settings.hash_memory_kib)
        )
        accounts = Accounts(self.store, self.passwords, issuer, clock or SystemClock())
        servicer = AuthServicer(accounts)
        self.runtime.serve(
            lambda server: auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server), [SERVICE_NAME]
        )
        self.runtime.on_start(self.store.ensure_indexes)
