"""The Redis token buckets: one atomic script per request, so limits hold across API replicas.

Each bucket is one hash (`tokens`, `ts`) under one key. The buckets one request takes from (its
token's and its account's) share a hash tag, the account, so the script that checks and takes
from all of them works on Redis Cluster too (one slot). Time comes from the Redis server
(`TIME`), so replicas with skewed clocks still share one notion of "now".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from modelyard.accounts.ratelimits import Bucket, Decision, RateLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "modelyard:ratelimit:"
WARN_EVERY = 60.0

# KEYS: the buckets; ARGV: capacity and tokens per second of each, in turn.
# Takes one token from every bucket if each has one, else from none. Returns {allowed, levels...}.
TOKEN_BUCKETS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local levels = {}
local allowed = 1
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil or ts == nil then
    tokens = capacity
    ts = now
  end
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
  if tokens < 1 then
    allowed = 0
  end
  levels[i] = tokens
end
local answer = {allowed}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local tokens = levels[i] - allowed
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - tokens) / rate * 1000) + 1000)
  answer[i + 1] = tostring(tokens)
end
return answer
"""


def bucket_key(group: str, name: str = "") -> str:
    """The Redis key of a bucket; the braces make its group a Cluster hash tag."""
    return f"{KEY_PREFIX}{{{group}}}{name}"


class RedisRateLimiter(RateLimiter):
    """Buckets in Redis, shared by every API replica (cluster mode)."""

    def __init__(self, url: str) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(TOKEN_BUCKETS)
        self._warned = 0.0

    async def hit_all(self, group: str, buckets: Sequence[Bucket]) -> Decision:
        args: list[int | str] = []
        for bucket in buckets:
            args += [bucket.limit.count, repr(bucket.limit.rate)]
        try:
            allowed, *levels = await self._script(
                keys=[bucket_key(group, b.name) for b in buckets], args=args
            )
        except RedisError as exc:
            now = time.monotonic()
            if now - self._warned >= WARN_EVERY:
                self._warned = now
                logger.warning("rate limiting is off: Redis did not answer (%s)", exc)
            return Decision.all_of(
                [Decision(True, b.limit.count, reset=0, retry_after=0) for b in buckets]
            )
        return Decision.all_of(
            [
                Decision.of(bool(int(allowed)), float(level), b.limit)
                for b, level in zip(buckets, levels, strict=True)
            ]
        )

    async def close(self) -> None:
        await self._redis.aclose()
