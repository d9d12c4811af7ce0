"""The Redis client every cluster backend uses: commands retry with backoff across a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from redis import asyncio as aioredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

logger = logging.getLogger(__name__)

# What a command raises while Redis is away: its own errors, or a socket error it let through.
UNAVAILABLE = (RedisError, OSError)


def connect(url: str) -> aioredis.Redis:
    """A client that retries a failed command with backoff (a few seconds) before raising."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=6)
    return aioredis.Redis.from_url(
        url,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        health_check_interval=10,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=5.0,
    )


def text(value: bytes | str) -> str:
    """A reply as a string (replies are bytes unless the client decodes them)."""
    return value.decode() if isinstance(value, bytes) else value


# What XREAD answers: [(stream, [(entry id, fields)])].
_Entry = tuple[bytes, dict[bytes, bytes]]
_XRead = list[tuple[bytes, list[_Entry]]] | None

FOLLOW_BLOCK_MS = 5000
# Longer than any blocking read we make: redis-py's default read timeout (5 s) equals the block
# time, so every quiet XREAD ended in a TimeoutError and a reconnect.
SOCKET_TIMEOUT = FOLLOW_BLOCK_MS / 1000 + 10
MAX_BACKOFF = 2.0


async def follow(
    client: aioredis.Redis,
    key: str,
    on_entry: Callable[[dict[bytes, bytes]], None],
    on_gap: Callable[[], None],
) -> None:
    """Hand every entry added to the stream `key` from now on to `on_entry`, forever.

    Redis away (a restart) is waited out with backoff; once it answers again, following goes
    on from the newest entry and `on_gap` is called, for what came (or was lost) meanwhile.
    """
    last: str | None = None
    backoff = 0.05
    while True:
        try:
            if last is None:
                head = cast(list[_Entry], await client.xrevrange(key, count=1))
                last = text(head[0][0]) if head else "0-0"
                on_gap()  # after the new position is taken, so no entry falls between
            got = cast(_XRead, await client.xread({key: last}, block=FOLLOW_BLOCK_MS, count=500))
            backoff = 0.05
        except UNAVAILABLE as exc:
            logger.warning("following %s: Redis unavailable (%s), reconnecting", key, exc)
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)
            last = None
            continue
        for _, entries in got or []:
            for entry_id, fields in entries:
                last = text(entry_id)
                on_entry(fields)
