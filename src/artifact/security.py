"""Passwords (argon2), bearer tokens (JWT, HS256) and API keys (random, stored as sha256)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
API_KEY_PREFIX = "afk_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash (an unknown user) a dummy hash is checked instead, so
    the answer takes as long and the timing does not tell which usernames exist."""
    with _password_checks():
        try:
            return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


_checks: threading.BoundedSemaphore | None = None


def limit_password_checks(concurrent: int) -> None:
    """Bound the argon2 verifications running at once (each holds ~64 MB while it runs)."""
    global _checks
    _checks = threading.BoundedSemaphore(concurrent)


def _password_checks():
    return _checks if _checks is not None else contextlib.nullcontext()


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


# The most used passwords of public breach lists that pass a length check of 8.
COMMON_PASSWORDS = {
    "password", "password1", "12345678", "123456789", "1234567890", "qwertyuiop", "qwerty123",
    "iloveyou", "11111111", "00000000", "abcd1234", "sunshine", "princess", "football", "baseball",
    "welcome1", "letmein1", "passw0rd", "trustno1", "superman", "1q2w3e4r", "qwertyui", "asdfghjk",
}  # fmt: skip
MIN_PASSWORD_LENGTH = 8
# Parts of the username or email shorter than this are too common to refuse (a "t" or "jo").
MIN_PERSONAL_PART = 4


def password_weakness(password: str, username: str, email: str) -> str | None:
    """Why a password is too weak, or None; one policy for the API and ``artifact users``:
    too short, a common one, fewer than 4 different characters, only digits, or containing a
    part of 4+ characters of the username or email (split at punctuation)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"it needs at least {MIN_PASSWORD_LENGTH} characters"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        return "it is one of the most common passwords"
    if len(set(password)) < 4:
        return "it uses fewer than 4 different characters"
    if password.isdigit():
        return "it is only digits"
    parts = re.split(r"[^a-z0-9]+", f"{username} {email}".lower())
    if any(len(part) >= MIN_PERSONAL_PART and part in lowered for part in parts):
        return "it contains your username or email"
    return None
