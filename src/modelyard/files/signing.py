"""HMAC signatures for stored files: expiring URLs that need no Authorization, and marker tags.

Every signed message starts with its kind, and each part is length-prefixed, so a signature made
for one kind (or for other parts) never verifies as another:

- `DELIVERY`: `/v1/deliveries/{key}` binds the storage key and the expiry.
- `FILE_DOWNLOAD`: `/v1/files/{id}/download` binds the file id, its owner and the expiry.
- `STORED_KEY`: the tag inside a stored-file marker, which says the platform wrote the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from enum import StrEnum


class Kind(StrEnum):
    """What a signature is for; part of every signed message."""

    DELIVERY = "delivery"
    FILE_DOWNLOAD = "file-download"
    STORED_KEY = "stored-key"


def signature(secret: bytes, kind: Kind, *parts: str) -> str:
    """URL-safe base64 (unpadded) HMAC-SHA256 of `kind` and `parts`, each length-prefixed."""
    message = "".join(f"{len(p)}:{p}" for p in ("modelyard", kind.value, *parts))
    digest = hmac.new(secret, message.encode(errors="surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(
    secret: bytes, kind: Kind, parts: tuple[str, ...], ttl: int, now: float | None = None
) -> tuple[int, str]:
    """(expiry, signature) of a `kind` URL for `parts`, valid until now + ttl."""
    expiry = int((time.time() if now is None else now) + ttl)
    return expiry, signature(secret, kind, *parts, str(expiry))


def verify(
    secret: bytes,
    kind: Kind,
    parts: tuple[str, ...],
    expiry: int,
    sig: str,
    now: float | None = None,
) -> bool:
    """True when `sig` was made by `sign` for this kind and these parts and has not expired."""
    if expiry < (time.time() if now is None else now):
        return False
    return _same(signature(secret, kind, *parts, str(expiry)), sig)


def tag(secret: bytes, key: str) -> str:
    """The tag that marks `key` as written by the platform itself (it never expires)."""
    return signature(secret, Kind.STORED_KEY, key)


def check_tag(secret: bytes, key: str, value: str) -> bool:
    return _same(tag(secret, key), value)


def _same(expected: str, given: str) -> bool:
    # Bytes, so a non-ASCII signature from a query string is a mismatch rather than a TypeError.
    return hmac.compare_digest(expected.encode(), given.encode(errors="surrogatepass"))
