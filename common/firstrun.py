"""What a first run creates, made once before any service starts: `make dev` and the test stack call `prepare`.

Today that is the development JWT key pair (services only read it) and the folders the stack writes into. Servers
make their own data on first start inside their own folder, and services create their own indexes, streams and
consumers idempotently, so nothing else is shared between processes that start at the same moment.

`python -m common.firstrun [DIR]` (`make dev-keys`) does only this, for running a service on its own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from common.settings import DEV_DIR
from common.tokens import ensure_dev_key_pair


@dataclass(frozen=True)
class FirstRunFiles:
    data_dir: Path
    logs_dir: Path
    jwt_private_key: Path
    jwt_public_key: Path

    def service_env(self) -> dict[str, str]:
        """The settings that point every process at these files instead of their dev defaults."""
        return {"JWT_PRIVATE_KEY_FILE": str(self.jwt_private_key), "JWT_PUBLIC_KEY_FILE": str(self.jwt_public_key)}


def prepare(data_dir: Path) -> FirstRunFiles:
    """Create what is missing under `data_dir` (idempotent; safe when two preparations meet)."""
    logs_dir = data_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    private_key, public_key = ensure_dev_key_pair(data_dir / "keys")
    return FirstRunFiles(data_dir, logs_dir, private_key, public_key)


if __name__ == "__main__":
    files = prepare(Path(sys.argv[1]) if len(sys.argv) > 1 else DEV_DIR)
    print(f"development keys: {files.jwt_private_key} (auth_svc only) and {files.jwt_public_key}")
