"""Signed, expiring URLs for file downloads that need no Authorization header."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def signature(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(secret: bytes, key: str, ttl: int, now: float | None = None) -> tuple[int, str]:
    """(expiry, signature) for downloading `key` until now + ttl."""
    expiry = int((now or time.time()) + ttl)
    return expiry, signature(secret, f"{key} {expiry}")


def verify(secret: bytes, key: str, expiry: int, sig: str, now: float | None = None) -> bool:
    if expiry < (now or time.time()):
        return False
    return hmac.compare_digest(signature(secret, f"{key} {expiry}"), sig)
