"""Auth's memory under 32 concurrent sign-ins (issue 15): `python -m tests.bench.auth_memory`.

Starts real MongoDB-compatible and NATS servers, runs auth_svc in this process with its default hashing bound, fires
32 concurrent SignIn calls (plus 32 wrong-password ones) and prints the process's peak resident memory (ru_maxrss)
next to the k8s limit (512 MiB). A figure, not a timed test.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
from pathlib import Path

import grpc

from auth_svc.app import AuthApp
from auth_svc.settings import AuthSettings
from common.testing import servers
from common.tokens import generate_key_pair
from ticketstore.auth.v1 import auth_pb2, auth_pb2_grpc

CONCURRENT = 32
K8S_LIMIT_MIB = 512


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mongo, nats = servers.start_mongo(root / "mongo"), servers.start_nats(root / "nats")
        private_key, public_key = generate_key_pair(root / "keys")
        app = AuthApp(AuthSettings(environment="test", grpc_port=0, mongo_url=mongo.url, mongo_db="bench",
                                   nats_url=nats.url_as("auth_svc"), jwt_private_key_file=private_key,
                                   jwt_public_key_file=public_key))  # fmt: skip
        await app.start()
        try:
            async with grpc.aio.insecure_channel(app.target) as channel:
                auth = auth_pb2_grpc.AuthServiceStub(channel)
                await auth.SignUp(auth_pb2.SignUpRequest(email="bench@example.com", password="correct horse"))
                before = peak_mib()
                began = time.monotonic()
                requests = [auth_pb2.SignInRequest(email="bench@example.com", password="correct horse")] * CONCURRENT
                requests += [auth_pb2.SignInRequest(email="bench@example.com", password="wrong guess")] * CONCURRENT
                results = await asyncio.gather(*(auth.SignIn(r) for r in requests), return_exceptions=True)
                took = time.monotonic() - began
            codes: dict[str, int] = {}
            for result in results:
                name = result.code().name if isinstance(result, grpc.aio.AioRpcError) else "OK"
                codes[name] = codes.get(name, 0) + 1
            print(f"{len(requests)} concurrent sign-ins in {took:.1f} s: {codes}")
            print(f"auth process peak RSS: {before:.0f} MiB before, {peak_mib():.0f} MiB after "
                  f"(k8s limit {K8S_LIMIT_MIB} MiB; hashing bound {app.passwords.limits})")  # fmt: skip
        finally:
            await app.stop()
            servers.stop_all([mongo, nats])


if __name__ == "__main__":
    asyncio.run(main())
