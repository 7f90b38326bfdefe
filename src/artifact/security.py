"""Passwords (argon2), bearer tokens (JWT, HS256) and API keys (random, stored as sha256)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
API_KEY_PREFIX = "afk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(user_id: int, key: str, ttl_minutes: int, session_key: str = "") -> str:
    """A signed token naming the user and the user's current session key."""
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "sk": session_key, "iat": now, "exp": now + timedelta(minutes=ttl_minutes)}
    return jwt.encode(claims, key, algorithm="HS256")


def read_access_token(token: str, key: str) -> tuple[int, str] | None:
    """(user id, session key) of a valid, unexpired token, else None."""
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        return int(claims["sub"]), str(claims.get("sk", ""))
    except (jwt.PyJWTError, ValueError, KeyError):
        return None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # API keys are 256-bit random strings: a fast hash is enough, and lookups stay O(1).
    return hashlib.sha256(key.encode()).hexdigest()
