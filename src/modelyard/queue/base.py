"""The work-queue contract: enqueue, lease with owner fairness, ack, remove, depth."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueItem:
    """One prediction waiting to run on a queue (a version or a deployment)."""

    prediction_id: str
    queue: str
    owner: str
    enqueued_at: float


class Queue:
    """Where accepted predictions wait for a model instance.

    `enqueue` is idempotent by prediction id. `lease` hands out items so that one owner's burst
    cannot starve another owner on the same queue (round-robin over owners). An item leased is
    gone from the queue; a process that dies with leased items recovers them from the store.
    """

    async def enqueue(self, item: QueueItem) -> None:
        raise NotImplementedError

    async def lease(self, queue: str, timeout: float | None = None) -> QueueItem | None:
        """The next item of `queue`, waiting up to `timeout` seconds (None: forever)."""
        raise NotImplementedError

    def remove(self, prediction_id: str) -> bool:
        """Drop a waiting item (a cancel before it ran). True if it was waiting."""
        raise NotImplementedError

    def depth(self, queue: str) -> int:
        raise NotImplementedError

    def oldest_age(self, queue: str, now: float) -> float:
        raise NotImplementedError

    def queues(self) -> list[str]:
        """Names of queues that have waiting items."""
        raise NotImplementedError
