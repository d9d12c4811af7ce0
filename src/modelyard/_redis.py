"""The Redis client every cluster backend uses: commands retry with backoff across a restart."""

from __future__ import annotations

from redis import asyncio as aioredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry


def connect(url: str) -> aioredis.Redis:
    """A client that retries a failed command with backoff (a few seconds) before raising."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=6)
    return aioredis.Redis.from_url(
        url,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        health_check_interval=10,
    )


def text(value: bytes | str) -> str:
    """A reply as a string (replies are bytes unless the client decodes them)."""
    return value.decode() if isinstance(value, bytes) else value
