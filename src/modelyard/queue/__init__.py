"""Work queues: where accepted predictions wait for a model instance."""

from __future__ import annotations

from modelyard.queue.base import Queue, QueueItem
from modelyard.queue.local import LocalQueue
from modelyard.queue.redis import QueueUnavailable, RedisQueue


def make_queue(
    redis_url: str | None,
    *,
    consumer: str | None = None,
    prefix: str = "modelyard:",
    lease_ttl: float = 30.0,
) -> Queue:
    """The in-process queue, or Redis Streams when a `redis://` (`rediss://`) URL is given."""
    if not redis_url:
        return LocalQueue()
    return RedisQueue(redis_url, consumer=consumer, prefix=prefix, lease_ttl=lease_ttl)


__all__ = ["LocalQueue", "Queue", "QueueItem", "QueueUnavailable", "RedisQueue", "make_queue"]
