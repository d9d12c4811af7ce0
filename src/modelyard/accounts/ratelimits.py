"""Rate limits per token and per account as token buckets: the interface and the in-process
implementation.

A limit `600/min` is a bucket of 600 tokens refilled at 10 a second: a burst of up to 600
requests goes through at once, then 10 a second. Each request takes one from its token's bucket
and one from its account's bucket, or from neither: minting more tokens does not raise what an
account may send. The Redis implementation (cluster mode, buckets shared by every API replica)
is in `_redis_ratelimits.py`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from modelyard.core.errors import RateLimited

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
ACCOUNT_MULTIPLE = 5  # an account's default limit: this many times one token's
Kind = Literal["create", "other"]


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

    def times(self, factor: int) -> RateLimit:
        """`factor` times as many requests in the same period."""
        return RateLimit(count=self.count * factor, period=self.period)


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
class Bucket:
    """One bucket of a group: `name` tells it apart within the group (may be empty)."""

    name: str
    limit: RateLimit


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The platform's limits: per token and per account, for creates and for the rest."""

    token_create: RateLimit
    token_other: RateLimit
    account_create: RateLimit
    account_other: RateLimit

    @classmethod
    def parse(
        cls,
        create: str,
        other: str,
        *,
        account_create: str | None = None,
        account_other: str | None = None,
    ) -> RateLimits:
        """Limits from settings; an account's default is ACCOUNT_MULTIPLE times a token's.

        Raises ValueError saying how to write a rate.
        """
        token_create, token_other = parse_rate(create), parse_rate(other)
        return cls(
            token_create=token_create,
            token_other=token_other,
            account_create=(
                parse_rate(account_create)
                if account_create
                else token_create.times(ACCOUNT_MULTIPLE)
            ),
            account_other=(
                parse_rate(account_other) if account_other else token_other.times(ACCOUNT_MULTIPLE)
            ),
        )

    def buckets(
        self, kind: Kind, account_id: int, token_id: int | None
    ) -> tuple[str, tuple[Bucket, ...]]:
        """The group (one per account) and the two buckets one request of `kind` takes from."""
        create = kind == "create"
        return f"account:{account_id}", (
            Bucket(f":{kind}", self.account_create if create else self.account_other),
            Bucket(f":{kind}:token:{token_id}", self.token_create if create else self.token_other),
        )


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

    @classmethod
    def all_of(cls, decisions: Sequence[Decision]) -> Decision:
        """Several buckets' answer as one: the tightest of each figure."""
        return cls(
            allowed=all(d.allowed for d in decisions),
            remaining=min(d.remaining for d in decisions),
            reset=max(d.reset for d in decisions),
            retry_after=max(d.retry_after for d in decisions),
        )


class RateLimiter:
    """Takes one request from buckets, all or none.

    Neither method raises for a backend failure: a limiter that cannot decide lets the request
    through (rate limiting protects the platform; it must not take it down).
    """

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        """Take one request from the single bucket named `key`."""
        return await self.hit_all(key, (Bucket("", limit),))

    async def hit_all(self, group: str, buckets: Sequence[Bucket]) -> Decision:
        """Take one request from each of `buckets` when every one has it, else from none.

        The buckets of one group live together (one Redis Cluster slot), so the decision is
        atomic. The answer is `Decision.all_of` the buckets' own.
        """
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections."""


class LocalRateLimiter(RateLimiter):
    """Buckets in this process's memory: for the embedded mode (one API process)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, at, full at)

    async def hit_all(self, group: str, buckets: Sequence[Bucket]) -> Decision:
        return self.take_all(group, buckets)

    def take(self, key: str, limit: RateLimit) -> Decision:
        """The synchronous core of `hit`."""
        return self.take_all(key, (Bucket("", limit),))

    def take_all(self, group: str, buckets: Sequence[Bucket]) -> Decision:
        """The synchronous core of `hit_all`."""
        now = self._clock()
        levels = [self._level(group + b.name, b.limit, now) for b in buckets]
        allowed = all(tokens >= 1.0 for tokens in levels)
        decisions = []
        for bucket, tokens in zip(buckets, levels, strict=True):
            limit = bucket.limit
            if allowed:
                tokens -= 1.0
            self._buckets[group + bucket.name] = (
                tokens,
                now,
                now + (limit.count - tokens) / limit.rate,
            )
            decisions.append(Decision.of(allowed, tokens, limit))
        return Decision.all_of(decisions)

    def _level(self, key: str, limit: RateLimit, now: float) -> float:
        state = self._buckets.get(key)
        if state is None:
            if len(self._buckets) >= PRUNE_AT:
                self._prune(now)
            return float(limit.count)
        return min(limit.count, state[0] + (now - state[1]) * limit.rate)

    def _prune(self, now: float) -> None:
        # Buckets that have refilled completely carry no information: drop them.
        self._buckets = {k: v for k, v in self._buckets.items() if v[2] > now}


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis buckets shared by every API replica when a Redis URL is given; else in-process."""
    if redis_url:
        from modelyard.accounts._redis_ratelimits import RedisRateLimiter

        return RedisRateLimiter(redis_url)
    return LocalRateLimiter()


async def take_request(
    limiter: RateLimiter, limits: RateLimits, kind: Kind, account_id: int, token_id: int | None
) -> Decision:
    """Take one request of `kind` from the account's and the token's buckets (see
    `RateLimits.buckets`); `throttled(decision)` is the 429 to raise when it is not allowed."""
    group, buckets = limits.buckets(kind, account_id, token_id)
    return await limiter.hit_all(group, buckets)


def throttled(decision: Decision) -> RateLimited:
    """The 429 for a refused decision, with `Retry-After`."""
    seconds = decision.retry_after
    return RateLimited(
        f"Request was throttled. Expected available in {seconds} "
        f"second{'s' if seconds != 1 else ''}.",
        headers={"Retry-After": str(seconds)},
    )
