"""What a first run creates, made once before any service starts: `make dev` and the test stack call `prepare`.

Today that is the development JWT key pair (services only read it), the development NATS passwords (one per user of
common.natsauth: `make dev` starts nats-server with them and hands each process only its own) and the folders the
stack writes into. Servers
make their own data on first start inside their own folder, and services create their own indexes, streams and
consumers idempotently, so nothing else is shared between processes that start at the same moment.

`python -m common.firstrun [DIR]` (`make dev-keys`) does only this, for running a service on its own.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from common import natsauth
from common.settings import DEV_DIR
from common.tokens import ensure_dev_key_pair

NATS_PASSWORDS_FILE = "nats-passwords.json"


@dataclass(frozen=True)
class FirstRunFiles:
    data_dir: Path
    logs_dir: Path
    jwt_private_key: Path
    jwt_public_key: Path
    nats_passwords: dict[str, str]  # NATS user -> password (common.natsauth)

    def service_env(self) -> dict[str, str]:
        """The settings that point every process at these files instead of their dev defaults."""
        return {"JWT_PRIVATE_KEY_FILE": str(self.jwt_private_key), "JWT_PUBLIC_KEY_FILE": str(self.jwt_public_key)}

    def nats_env(self, user: str) -> dict[str, str]:
        """NATS_USER and NATS_PASSWORD of one process: its own user's, and no other."""
        return {"NATS_USER": user, "NATS_PASSWORD": self.nats_passwords[user]}


def prepare(data_dir: Path) -> FirstRunFiles:
    """Create what is missing under `data_dir` (idempotent; safe when two preparations meet)."""
    logs_dir = data_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    private_key, public_key = ensure_dev_key_pair(data_dir / "keys")
    passwords = ensure_nats_passwords(data_dir / "secrets")
    return FirstRunFiles(data_dir, logs_dir, private_key, public_key, passwords)


def ensure_nats_passwords(directory: Path) -> dict[str, str]:
    """A password per NATS user, made once (owner-only file); a user added since gets one, the others keep theirs.
    Under a lock, so preparations that meet agree on one set."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / NATS_PASSWORDS_FILE
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        try:
            known: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        passwords = {**natsauth.new_passwords(), **known}
        if passwords != known:
            temporary = path.with_suffix(".tmp")
            temporary.unlink(missing_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                json.dump(passwords, handle, indent=1, sort_keys=True)
            temporary.replace(path)
    return passwords


if __name__ == "__main__":
    files = prepare(Path(sys.argv[1]) if len(sys.argv) > 1 else DEV_DIR)
    print(f"development keys: {files.jwt_private_key} (auth_svc only) and {files.jwt_public_key}")
    print(f"development NATS passwords: {files.data_dir / 'secrets' / NATS_PASSWORDS_FILE}")
