"""Identifier formats: prediction ids, tokens, secrets."""

from __future__ import annotations

import base64
import secrets

_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def new_prediction_id() -> str:
    """26 lowercase base32 characters, like Replicate's prediction ids."""
    return "".join(secrets.choice(_B32) for _ in range(26))


def new_file_id() -> str:
    """An opaque file id, longer than a prediction id as Replicate's are."""
    return base64.b32encode(secrets.token_bytes(20)).decode().lower().rstrip("=")


def new_instance_id() -> str:
    return "i" + "".join(secrets.choice(_B32) for _ in range(11))


def new_capability() -> str:
    """An unguessable URL-safe token for capability URLs."""
    return secrets.token_urlsafe(24)
