"""The in-process token buckets (per token and per account) and rate-limit parsing."""

from __future__ import annotations

import pytest

from modelyard.accounts import LocalRateLimiter, RateLimit, RateLimits, parse_rate
from modelyard.accounts.ratelimits import ACCOUNT_MULTIPLE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_rate_forms() -> None:
    assert parse_rate("600/min") == RateLimit(600, 60.0)
    assert parse_rate("3000/minute") == RateLimit(3000, 60.0)
    assert parse_rate("5/10s") == RateLimit(5, 10.0)
    assert parse_rate("2/s") == RateLimit(2, 1.0)
    assert parse_rate("100/hours") == RateLimit(100, 3600.0)
    for bad in ("0/min", "5/0s", "600", "5/day", "-1/min", ""):
        with pytest.raises(ValueError, match="600/min"):
            parse_rate(bad)


def test_burst_then_refuse_with_retry_after() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    limit = parse_rate("5/min")  # one token every 12 s
    decisions = [limiter.take("t", limit) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert decisions[0].reset == 12  # one token to refill
    assert decisions[4].reset == 60
    assert decisions[5].retry_after == 12
    clock.now += 11.9
    assert not limiter.take("t", limit).allowed
    clock.now += 0.2
    again = limiter.take("t", limit)
    assert again.allowed and again.remaining == 0


def test_buckets_are_per_key_and_refill_to_capacity() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    limit = parse_rate("2/s")
    assert limiter.take("a", limit).allowed and limiter.take("a", limit).allowed
    assert not limiter.take("a", limit).allowed
    assert limiter.take("b", limit).allowed
    clock.now += 100
    first = limiter.take("a", limit)
    assert first.allowed and first.remaining == 1  # capped at the capacity, not 200


def test_full_buckets_are_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.accounts import ratelimits

    monkeypatch.setattr(ratelimits, "PRUNE_AT", 3)
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    limit = parse_rate("10/s")
    for key in "abc":
        limiter.take(key, limit)
    clock.now += 5
    limiter.take("d", limit)
    assert set(limiter._buckets) == {"d"}


def test_account_limits_default_to_a_multiple_of_the_token_ones() -> None:
    limits = RateLimits.parse("600/min", "5/10s")
    assert limits.account_create == RateLimit(600 * ACCOUNT_MULTIPLE, 60.0)
    assert limits.account_other == RateLimit(5 * ACCOUNT_MULTIPLE, 10.0)
    limits = RateLimits.parse("600/min", "50/s", account_create="900/min", account_other="2/s")
    assert (limits.account_create, limits.account_other) == (RateLimit(900, 60.0), RateLimit(2, 1))
    with pytest.raises(ValueError, match="600/min"):
        RateLimits.parse("600/min", "50/s", account_other="many")


def test_many_tokens_of_one_account_share_the_account_bucket() -> None:
    # The attack: mint tokens to multiply the rate. Each token has room for 5 creates a
    # minute, the account for 8: twenty tokens together still get 8.
    limiter = LocalRateLimiter(Clock())
    limits = RateLimits.parse("5/min", "100/min", account_create="8/min")
    decisions = [
        limiter.take_all(*limits.buckets("create", 7, token_id))
        for _ in range(3)
        for token_id in range(20)
    ]
    assert sum(d.allowed for d in decisions) == 8
    refused = [d for d in decisions if not d.allowed]
    assert all(d.retry_after == 8 and d.remaining == 0 for d in refused)  # 60 s / 8
    # Another account, and the same account's other requests, have buckets of their own.
    assert limiter.take_all(*limits.buckets("create", 8, 0)).allowed
    assert limiter.take_all(*limits.buckets("other", 7, 0)).allowed


def test_refusal_by_either_bucket_charges_neither() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    limits = RateLimits.parse("2/min", "100/min", account_create="3/min")
    assert limiter.take_all(*limits.buckets("create", 1, 1)).allowed
    assert limiter.take_all(*limits.buckets("create", 1, 1)).allowed
    refused = limiter.take_all(*limits.buckets("create", 1, 1))  # the token's bucket is empty
    assert not refused.allowed and refused.retry_after == 30
    # The account's bucket kept its third request for another token.
    third = limiter.take_all(*limits.buckets("create", 1, 2))
    assert third.allowed and third.remaining == 0
    refused = limiter.take_all(*limits.buckets("create", 1, 3))  # now the account's is empty
    assert not refused.allowed and refused.retry_after == 20
    clock.now += 20
    assert limiter.take_all(*limits.buckets("create", 1, 3)).allowed
