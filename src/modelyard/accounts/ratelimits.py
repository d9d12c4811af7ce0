"""Per-token rate limits as token buckets: the interface and the in-process implementation.

A limit `600/min` is a bucket of 600 tokens refilled at 10 a second: a burst of up to 600
requests goes through at once, then 10 a second. The Redis implementation (cluster mode, one
bucket shared by every API replica) is in `_redis_ratelimits.py`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
PRUNE_AT = 50_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`count` requests per `period` seconds, bursts of up to `count`."""

    count: int
    period: float

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.count / self.period

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"


def parse_rate(value: str) -> RateLimit:
    """`600/min`, `3000/minute`, `5/10s`, `2/s`, `100/h`; raises ValueError saying what to write."""
    match = _RATE.match(value.lower())
    unit = None
    if match is not None:
        name = match[3]
        unit = UNITS.get(name) or UNITS.get(name.removesuffix("s"))
    if match is None or unit is None or int(match[1]) <= 0 or match[2] == "0":
        raise ValueError(
            f"A rate limit looks like 600/min, 50/s or 5/10s (requests per period), not {value!r}."
        )
    return RateLimit(count=int(match[1]), period=(int(match[2]) if match[2] else 1) * unit)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request: allowed or not, and what the response headers say."""

    allowed: bool
    remaining: int  # whole requests left in the bucket now
    reset: int  # seconds until the bucket is full again
    retry_after: int  # when refused: whole seconds until one request is allowed

    @classmethod
    def of(cls, allowed: bool, tokens: float, limit: RateLimit) -> Decision:
        rate = limit.rate
        return cls(
            allowed=allowed,
            remaining=max(0, math.floor(tokens)),
            reset=max(0, math.ceil((limit.count - tokens) / rate - 1e-9)),
            retry_after=0 if allowed else max(1, math.ceil((1 - tokens) / rate - 1e-9)),
        )


class RateLimiter:
    """Takes one request from the bucket named `key`.

    `hit` never raises for a backend failure: a limiter that cannot decide lets the request
    through (rate limiting protects the platform; it must not take it down).
    """

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections."""


class LocalRateLimiter(RateLimiter):
    """Buckets in this process's memory: for the embedded mode (one API process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, at, full at)

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        return self.take(key, limit)

    def take(self, key: str, limit: RateLimit) -> Decision:
        """The synchronous core of `hit`."""
        now = self._clock()
        state = self._buckets.get(key)
        if state is None:
            tokens = float(limit.count)
            if len(self._buckets) >= PRUNE_AT:
                self._prune(now)
        else:
            tokens = min(limit.count, state[0] + (now - state[1]) * limit.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now, now + (limit.count - tokens) / limit.rate)
        return Decision.of(allowed, tokens, limit)

    def _prune(self, now: float) -> None:
        # Buckets that have refilled completely carry no information: drop them.
        self._buckets = {k: v for k, v in self._buckets.items() if v[2] > now}


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis buckets shared by every API replica when a Redis URL is given; else in-process."""
    if redis_url:
        from modelyard.accounts._redis_ratelimits import RedisRateLimiter

        return RedisRateLimiter(redis_url)
    return LocalRateLimiter()
