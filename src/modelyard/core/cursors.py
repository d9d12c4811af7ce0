"""Opaque page cursors: base64url text the platform wrote; anything else is a 400, never a 500."""

from __future__ import annotations

import base64
import binascii

from modelyard.core.errors import BadRequest

MAX_CURSOR_CHARS = 512  # ours are well under 100; longer ones are not worth decoding
MAX_ID = 2**63 - 1  # the largest key an SQL BIGINT holds (SQLite and Postgres)
INVALID = "The cursor is not valid; use the `next` URL of a previous page."


def encode(text: str) -> str:
    """`text` as an unpadded base64url cursor."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str) -> str:
    """The text inside `cursor`; raises BadRequest for anything `encode` did not write."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadRequest(INVALID)
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(INVALID) from exc


def encode_id(prefix: str, value: int) -> str:
    """A cursor holding one row id, e.g. `encode_id("p", 42)`."""
    return encode(f"{prefix}={value}")


def decode_id(prefix: str, cursor: str) -> int:
    """The row id in `cursor`; raises BadRequest unless it is a key a table can hold."""
    text = decode(cursor).removeprefix(f"{prefix}=")
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        raise BadRequest(INVALID)
    value = int(text)
    if value > MAX_ID:
        raise BadRequest(INVALID)
    return value
