"""The work-queue contract: enqueue, lease with owner fairness, ack, remove, depth."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class QueueItem:
    """One prediction waiting to run on a queue (a version or a deployment)."""

    prediction_id: str
    queue: str
    owner: str
    enqueued_at: float
    hardware: str = ""  # its hardware class (a SKU): a shared queue tracks demand per class


class Queue:
    """Where accepted predictions wait for a model instance.

    `enqueue` is idempotent by prediction id (while the item is waiting or leased). `lease`
    hands out items so that one owner's burst cannot starve another owner on the same queue
    (round-robin over owners). A leased item belongs to this consumer until `ack` (called once
    the prediction is terminal, or will never run here); where the backend keeps leases (Redis),
    what a dead consumer leased and never acked goes back to the queue (`reclaim`). The local
    queue keeps no leases: a process that dies with leased items recovers them from the store.

    `changed` is set whenever an item may have arrived on any queue (an enqueue here or, for a
    shared backend, in another process): a dispatch loop waits on it instead of polling.
    """

    consumer: str = "local"
    changed: asyncio.Event

    async def start(self) -> None:
        """Open connections and start background work (a no-op where there is none)."""

    async def close(self) -> None:
        """Stop background work and close connections."""

    async def enqueue(self, item: QueueItem) -> None:
        raise NotImplementedError

    async def lease(self, queue: str, timeout: float | None = None) -> QueueItem | None:
        """The next item of `queue`, waiting up to `timeout` seconds (None: forever, 0: not at
        all); None when nothing came."""
        raise NotImplementedError

    async def ack(self, prediction_id: str) -> None:
        """The leased prediction is done with: it will not be handed out again."""

    async def reclaim(self, min_idle: float | None = None) -> list[str]:
        """Put back what consumers leased and have not acked nor renewed for `min_idle` seconds
        (default: the backend's lease TTL); returns their prediction ids. A no-op locally."""
        return []

    async def reclaim_from(self, consumer: str) -> list[str]:
        """Put back at once what `consumer` (a worker declared lost) leased and never acked;
        returns their prediction ids. A no-op locally."""
        return []

    async def remove(self, prediction_id: str) -> bool:
        """Drop a waiting item (a cancel before it ran). True if it was waiting."""
        raise NotImplementedError

    async def depth(self, queue: str) -> int:
        """How many items of `queue` wait (leased ones do not count)."""
        raise NotImplementedError

    async def oldest_age(self, queue: str, now: float) -> float:
        """Seconds the oldest waiting item of `queue` has waited at `now` (0 when none)."""
        raise NotImplementedError

    async def queues(self) -> list[str]:
        """Names of queues that have waiting items."""
        raise NotImplementedError
