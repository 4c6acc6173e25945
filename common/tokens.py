"""Session tokens: EdDSA-signed JWTs.

Only auth_svc holds the private key; every service verifies tokens with the public key.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from common.errors import Unauthenticated
from common.settings import DEV_DIR

ALGORITHM = "EdDSA"
ISSUER = "ticketstore-auth"
AUDIENCE = "ticketstore"
DEV_KEY_DIR = DEV_DIR / "keys"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """The signed-in user a request acts for."""

    user_id: str
    email: str


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
    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._key = public_key

    def verify(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("session expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid session token") from exc
        subject, email = claims.get("sub"), claims.get("email")
        if not isinstance(subject, str) or not isinstance(email, str):
            raise Unauthenticated("invalid session token")
        return Caller(user_id=subject, email=email)


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


# --- key loading ---


def generate_key_pair(directory: Path) -> tuple[Path, Path]:
    """Write a fresh Ed25519 pair as PEM files (private key readable by the owner only)."""
    directory.mkdir(parents=True, exist_ok=True)
    private_key = Ed25519PrivateKey.generate()
    private_path, public_path = directory / "jwt-private.pem", directory / "jwt-public.pem"
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def _dev_keys(is_prod: bool) -> tuple[Path, Path]:
    if is_prod:
        raise RuntimeError("JWT_PUBLIC_KEY_FILE / JWT_PRIVATE_KEY_FILE must be set when ENVIRONMENT=prod")
    private_path, public_path = DEV_KEY_DIR / "jwt-private.pem", DEV_KEY_DIR / "jwt-public.pem"
    if not private_path.exists() or not public_path.exists():
        log.warning("no JWT key configured: generating a development key pair in %s", DEV_KEY_DIR)
        generate_key_pair(DEV_KEY_DIR)
    return private_path, public_path


def load_verifier(public_key_file: Path | None, *, is_prod: bool) -> TokenVerifier:
    path = public_key_file or _dev_keys(is_prod)[1]
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise RuntimeError(f"{path} is not an Ed25519 public key")
    return TokenVerifier(key)


def load_issuer(private_key_file: Path | None, ttl: dt.timedelta, *, is_prod: bool) -> TokenIssuer:
    path = private_key_file or _dev_keys(is_prod)[0]
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 private key")
    return TokenIssuer(key, ttl)
