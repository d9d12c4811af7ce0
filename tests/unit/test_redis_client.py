"""The shared Redis client: a quiet blocking read is not mistaken for Redis being away."""

from __future__ import annotations

import secrets

from tests.backends import REDIS_URL

from modelyard._redis import FOLLOW_BLOCK_MS, connect


async def test_a_blocking_read_as_long_as_the_follow_loops_returns_quietly() -> None:
    client = connect(REDIS_URL)
    try:
        key = f"test:{secrets.token_hex(6)}:quiet"
        # redis-py's default read timeout (5 s) used to end this in a TimeoutError.
        got = await client.xread({key: "$"}, block=FOLLOW_BLOCK_MS + 500, count=1)
        assert not got
    finally:
        await client.aclose()
