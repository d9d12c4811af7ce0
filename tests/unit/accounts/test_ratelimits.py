"""The in-process token bucket and rate-limit parsing."""

from __future__ import annotations

import pytest

from modelyard.accounts import LocalRateLimiter, RateLimit, parse_rate


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
