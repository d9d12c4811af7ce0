"""The Redis token bucket (cluster mode) against the real Redis of this machine."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis import asyncio as aioredis

from modelyard.accounts import RateLimits, make_rate_limiter, parse_rate
from modelyard.accounts._redis_ratelimits import RedisRateLimiter, bucket_key

REDIS = "redis://127.0.0.1:6379/0"


async def test_concurrent_hits_take_exactly_the_capacity() -> None:
    limiter = make_rate_limiter(REDIS)
    assert isinstance(limiter, RedisRateLimiter)
    key = f"test:{secrets.token_hex(4)}"
    limit = parse_rate("10/min")
    try:
        decisions = await asyncio.gather(*(limiter.hit(key, limit) for _ in range(40)))
        assert sum(d.allowed for d in decisions) == 10
        refused = [d for d in decisions if not d.allowed]
        assert all(d.retry_after == 6 and d.remaining == 0 for d in refused)
        assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
    finally:
        await limiter.close()


async def test_refill_and_key_expiry() -> None:
    limiter = RedisRateLimiter(REDIS)
    redis = aioredis.from_url(REDIS)
    key = f"test:{secrets.token_hex(4)}"
    limit = parse_rate("2/s")
    try:
        assert (await limiter.hit(key, limit)).allowed
        assert (await limiter.hit(key, limit)).allowed
        assert not (await limiter.hit(key, limit)).allowed
        ttl = await redis.pttl(bucket_key(key))
        assert 0 < ttl <= 2000  # gone once it would be full again (plus a second)
        await asyncio.sleep(0.6)
        assert (await limiter.hit(key, limit)).allowed
        assert "{" in bucket_key(key)  # a Cluster hash tag: one slot per bucket
    finally:
        await redis.aclose()
        await limiter.close()


async def test_many_tokens_of_one_account_share_the_account_bucket() -> None:
    # Twenty tokens of one account, hitting together through two "replicas" (limiters):
    # the account's 8 a minute hold, not 20 × 5.
    replicas = [RedisRateLimiter(REDIS), RedisRateLimiter(REDIS)]
    account = secrets.randbelow(10**9)
    limits = RateLimits.parse("5/min", "100/min", account_create="8/min")
    try:
        decisions = await asyncio.gather(
            *(
                replicas[token % 2].hit_all(*limits.buckets("create", account, token))
                for token in range(20)
                for _ in range(3)
            )
        )
        assert sum(d.allowed for d in decisions) == 8
        assert all(d.retry_after == 8 for d in decisions if not d.allowed)
        other = await replicas[0].hit_all(*limits.buckets("create", account + 1, 0))
        assert other.allowed
    finally:
        for limiter in replicas:
            await limiter.close()


async def test_refusal_by_the_account_bucket_charges_no_token() -> None:
    limiter = RedisRateLimiter(REDIS)
    redis = aioredis.from_url(REDIS)
    account = secrets.randbelow(10**9)
    limits = RateLimits.parse("3/min", "100/min", account_create="2/min")
    try:
        for token in (1, 2):
            assert (await limiter.hit_all(*limits.buckets("create", account, token))).allowed
        refused = await limiter.hit_all(*limits.buckets("create", account, 3))
        assert not refused.allowed and refused.retry_after == 30
        group, (account_bucket, token_bucket) = limits.buckets("create", account, 3)
        assert float(await redis.hget(bucket_key(group, token_bucket.name), "tokens")) == 3.0
        assert bucket_key(group, account_bucket.name).startswith(f"modelyard:ratelimit:{{{group}}}")
    finally:
        await redis.aclose()
        await limiter.close()


async def test_unreachable_redis_lets_requests_through() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    try:
        decision = await limiter.hit("k", parse_rate("1/min"))
        assert decision.allowed
    finally:
        await limiter.close()


@pytest.fixture(autouse=True)
async def _redis_available() -> None:
    redis = aioredis.from_url(REDIS)
    try:
        await redis.ping()
    except Exception:  # noqa: BLE001
        pytest.skip("no Redis at 127.0.0.1:6379")
    finally:
        await redis.aclose()
