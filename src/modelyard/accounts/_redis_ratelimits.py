"""The Redis token bucket: one atomic script per request, so limits hold across API replicas.

Each bucket is one hash (`tokens`, `ts`) under one key, so the script touches a single key and
works on Redis Cluster too (the key's hash tag keeps it in one slot). Time comes from the Redis
server (`TIME`), so replicas with skewed clocks still share one notion of "now".
"""

from __future__ import annotations

import logging
import time

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from modelyard.accounts.ratelimits import Decision, RateLimit, RateLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "modelyard:ratelimit:"
WARN_EVERY = 60.0

# KEYS[1] bucket; ARGV[1] capacity, ARGV[2] tokens per second. Returns {allowed, tokens}.
TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


def bucket_key(key: str) -> str:
    """The Redis key of a bucket; braces make it a Cluster hash tag."""
    return f"{KEY_PREFIX}{{{key}}}"


class RedisRateLimiter(RateLimiter):
    """Buckets in Redis, shared by every API replica (cluster mode)."""

    def __init__(self, url: str) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(TOKEN_BUCKET)
        self._warned = 0.0

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        try:
            allowed, tokens = await self._script(
                keys=[bucket_key(key)], args=[limit.count, repr(limit.rate)]
            )
        except RedisError as exc:
            now = time.monotonic()
            if now - self._warned >= WARN_EVERY:
                self._warned = now
                logger.warning("rate limiting is off: Redis did not answer (%s)", exc)
            return Decision(allowed=True, remaining=limit.count, reset=0, retry_after=0)
        return Decision.of(bool(int(allowed)), float(tokens), limit)

    async def close(self) -> None:
        await self._redis.aclose()
