"""Session tokens: EdDSA-signed JWTs.

Only auth_svc holds the private key; every service verifies tokens with the public key.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from common.errors import Unauthenticated
from common.settings import DEV_DIR, ConfigurationError

ALGORITHM = "EdDSA"
ISSUER = "ticketstore-auth"
AUDIENCE = "ticketstore"
DEV_KEY_DIR = DEV_DIR / "keys"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """The signed-in user a request acts for, and which token says so (`token_id` = its `jti`)."""

    user_id: str
    email: str
    token_id: str = ""
    expires_at: dt.datetime | None = None


class RevokedTokens(Protocol):
    def __contains__(self, token_id: object) -> bool: ...


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (scheme in any case), or None if it is not one."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenVerifier:
    def __init__(self, public_key: Ed25519PublicKey, revoked: RevokedTokens | None = None) -> None:
        self._key = public_key
        self.revoked = revoked  # signed-out token ids (common.revocations), set once the process follows them

    def verify(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("session expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid session token") from exc
        subject, email, token_id = claims.get("sub"), claims.get("email"), claims.get("jti")
        if not isinstance(subject, str) or not isinstance(email, str) or not isinstance(token_id, str):
            raise Unauthenticated("invalid session token")
        if self.revoked is not None and token_id in self.revoked:
            raise Unauthenticated("this session was signed out")
        expires_at = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        return Caller(user_id=subject, email=email, token_id=token_id, expires_at=expires_at)


class TokenIssuer:
    def __init__(self, private_key: Ed25519PrivateKey, ttl: dt.timedelta) -> None:
        self._key = private_key
        self._ttl = ttl

    def issue(self, user_id: str, email: str, now: dt.datetime | None = None) -> IssuedToken:
        now = now or dt.datetime.now(dt.UTC)
        expires_at = now + self._ttl
        claims = {
            "sub": user_id,
            "email": email,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return IssuedToken(jwt.encode(claims, self._key, algorithm=ALGORITHM), expires_at)


# --- key files ---
#
# Keys are made once, before any service starts: in production by the operator (a Secret), in dev and tests by the
# first-run preparation (`common.firstrun`, run by `make dev` and the test stack). Services only read them: when
# every process made its own pair on a first start, they raced and ended up holding different keys.

PRIVATE_KEY_NAME = "jwt-private.pem"
PUBLIC_KEY_NAME = "jwt-public.pem"
MAKE_DEV_KEYS = "make dev-keys"  # the one command that creates the development pair


class MissingKeyError(ConfigurationError):
    """A key file a process needs is not there (a configuration problem, not a bug: say how to fix it)."""


def generate_key_pair(directory: Path) -> tuple[Path, Path]:
    """Write a fresh Ed25519 pair as PEM files, each atomically (private key readable by the owner only)."""
    directory.mkdir(parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    private_path, public_path = directory / PRIVATE_KEY_NAME, directory / PUBLIC_KEY_NAME
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_atomically(private_path, private_pem, mode=0o600)
    _write_atomically(public_path, public_pem, mode=0o644)
    return private_path, public_path


def ensure_dev_key_pair(directory: Path) -> tuple[Path, Path]:
    """The development pair in `directory`, made once: a complete, matching pair is kept as it is.

    Safe when several first-run preparations meet (two `make dev`s, parallel test stacks): they take a lock, so
    exactly one writes and the others read what it wrote. A half-written or mismatched pair left by an older
    version is replaced (tokens signed with it stop working, which only affects development sessions).
    """
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / PRIVATE_KEY_NAME, directory / PUBLIC_KEY_NAME
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not _is_matching_pair(private_path, public_path):
            if private_path.exists() or public_path.exists():
                log.warning("the development key pair in %s is incomplete or mismatched: replacing it", directory)
            generate_key_pair(directory)
    return private_path, public_path


def load_verifier(public_key_file: Path | None, *, is_prod: bool) -> TokenVerifier:
    path = public_key_file or _dev_key_file(PUBLIC_KEY_NAME, is_prod, "JWT_PUBLIC_KEY_FILE")
    key = serialization.load_pem_public_key(_read_key(path))
    if not isinstance(key, Ed25519PublicKey):
        raise MissingKeyError(f"{path} is not an Ed25519 public key")
    return TokenVerifier(key)


def load_issuer(private_key_file: Path | None, ttl: dt.timedelta, *, is_prod: bool) -> TokenIssuer:
    path = private_key_file or _dev_key_file(PRIVATE_KEY_NAME, is_prod, "JWT_PRIVATE_KEY_FILE")
    key = serialization.load_pem_private_key(_read_key(path), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise MissingKeyError(f"{path} is not an Ed25519 private key")
    return TokenIssuer(key, ttl)


def _dev_key_file(name: str, is_prod: bool, variable: str) -> Path:
    if is_prod:
        raise MissingKeyError(f"{variable} must be set when ENVIRONMENT=prod")
    return DEV_KEY_DIR / name


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MissingKeyError(
            f"no JWT key at {path}: create the development keys once with `{MAKE_DEV_KEYS}` "
            "(`make dev` does it too), or point JWT_PUBLIC_KEY_FILE / JWT_PRIVATE_KEY_FILE at your own"
        ) from None


def _is_matching_pair(private_path: Path, public_path: Path) -> bool:
    try:
        private_key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        public_key = serialization.load_pem_public_key(public_path.read_bytes())
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    if not isinstance(private_key, Ed25519PrivateKey) or not isinstance(public_key, Ed25519PublicKey):
        return False
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    return private_key.public_key().public_bytes(*raw) == public_key.public_bytes(*raw)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write to a temporary file beside `path`, then rename it over: a reader sees the old file or the new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
