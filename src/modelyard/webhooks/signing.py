"""Standard Webhooks signing: account secrets, message ids and the `webhook-*` headers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
MESSAGE_ID_PREFIX = "msg_"
DEFAULT_TOLERANCE = 300

_ID_ALPHABET = string.ascii_letters + string.digits
_ID_LENGTH = 27


def generate_secret(nbytes: int = 32) -> str:
    """A new signing secret: `whsec_` + standard, padded base64 of `nbytes` random bytes.

    The standard alphabet never contains `_`, which the Python client needs: it splits the key
    on `_` and expects exactly two parts.
    """
    if not 24 <= nbytes <= 64:
        raise ValueError("a webhook secret needs between 24 and 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def new_message_id() -> str:
    """A new `webhook-id`, e.g. `msg_p5jXN8AQM9LWM0D4loKWxJek`; keep it for every retry."""
    return MESSAGE_ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.

    Raises ValueError when `secret` is not `whsec_` + base64.
    """
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of one delivery attempt; `timestamp` defaults to now (Unix seconds)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, msg_id, ts, body),
        "content-type": "application/json",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int | None = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> bool:
    """True when one `v1` signature in `headers` matches `body` and the timestamp is recent.

    `tolerance=None` skips the timestamp check. Header names are matched case-insensitively.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_ts = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not msg_id or not raw_ts.isdigit():
        return False
    timestamp = int(raw_ts)
    current = int(time.time()) if now is None else now
    if tolerance is not None and abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, msg_id, timestamp, body).encode()
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split()
        if candidate.startswith(f"{SIGNATURE_VERSION},")
    )


def _secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret must be 'whsec_' followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key
