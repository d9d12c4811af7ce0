"""Timestamps as Replicate writes them: RFC 3339, UTC, with a Z."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """`2024-10-04T18:07:37.245123Z`, or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp, assuming UTC when no zone is given."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_duration(value: str) -> float:
    """`2s`, `30m`, `1h`, `7d` or plain seconds → seconds; raises ValueError if malformed."""
    match = _DURATION.match(str(value).lower())
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"A duration looks like 2s, 30m, 1h or 7d, not {value!r}.")
    return float(match[1]) * _DURATION_UNITS[match[2]]
