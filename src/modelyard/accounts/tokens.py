"""API tokens: shown once, stored as a SHA-256 hash, recognisable by their prefix."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "my_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """What listings show of a token: its first characters."""
    return token[:8]


def parse_authorization(header: str | None) -> str | None:
    """The token in `Bearer T` or `Token T`, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() not in ("bearer", "token") or not value.strip():
        return None
    return value.strip()
