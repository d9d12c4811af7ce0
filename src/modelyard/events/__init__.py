"""Event buses: a prediction's events fanned out to streams, webhooks and waiters."""

from __future__ import annotations

from modelyard.events.base import DONE, ERROR, LOGS, OUTPUT, STATUS, Event, EventBus
from modelyard.events.local import LocalEventBus
from modelyard.events.redis import RedisEventBus


def make_bus(redis_url: str | None, *, prefix: str = "modelyard:") -> EventBus:
    """The in-process bus, or Redis Streams when a `redis://` (`rediss://`) URL is given."""
    return RedisEventBus(redis_url, prefix=prefix) if redis_url else LocalEventBus()


__all__ = [
    "DONE",
    "ERROR",
    "LOGS",
    "OUTPUT",
    "STATUS",
    "Event",
    "EventBus",
    "LocalEventBus",
    "RedisEventBus",
    "make_bus",
]
