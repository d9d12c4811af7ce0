"""The in-process queue of the embedded mode; the predictions table is its persistence."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque

from modelyard.queue.base import Queue, QueueItem


class _Lane:
    """One queue: a deque per owner, served round-robin."""

    def __init__(self) -> None:
        self.by_owner: OrderedDict[str, deque[QueueItem]] = OrderedDict()
        self.changed = asyncio.Event()

    def push(self, item: QueueItem) -> None:
        self.by_owner.setdefault(item.owner, deque()).append(item)
        self.changed.set()

    def pop(self) -> QueueItem | None:
        for owner in list(self.by_owner):
            items = self.by_owner[owner]
            if not items:
                del self.by_owner[owner]
                continue
            item = items.popleft()
            # The owner just served goes to the back of the rotation.
            self.by_owner.move_to_end(owner)
            if not items:
                del self.by_owner[owner]
            return item
        return None

    def __len__(self) -> int:
        return sum(len(d) for d in self.by_owner.values())


class LocalQueue(Queue):
    """Items live in memory; after a restart the platform re-enqueues `starting` predictions."""

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._where: dict[str, str] = {}
        self.changed = asyncio.Event()

    def _lane(self, queue: str) -> _Lane:
        lane = self._lanes.get(queue)
        if lane is None:
            lane = self._lanes[queue] = _Lane()
        return lane

    async def enqueue(self, item: QueueItem) -> None:
        if item.prediction_id in self._where:
            return
        self._where[item.prediction_id] = item.queue
        self._lane(item.queue).push(item)
        self.changed.set()

    def _pop(self, queue: str) -> QueueItem | None:
        lane = self._lanes.get(queue)
        if lane is None:
            return None
        item = lane.pop()
        if item is not None:
            self._where.pop(item.prediction_id, None)
        return item

    async def lease(self, queue: str, timeout: float | None = None) -> QueueItem | None:
        item = self._pop(queue)
        if item is not None or timeout == 0:
            return item
        lane = self._lane(queue)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            item = self._pop(queue)
            if item is not None:
                return item
            lane.changed.clear()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(lane.changed.wait(), remaining)
            except TimeoutError:
                return None

    async def remove(self, prediction_id: str) -> bool:
        queue = self._where.pop(prediction_id, None)
        if queue is None:
            return False
        lane = self._lanes[queue]
        for owner, items in list(lane.by_owner.items()):
            for item in items:
                if item.prediction_id == prediction_id:
                    items.remove(item)
                    if not items:
                        del lane.by_owner[owner]
                    return True
        return False

    async def depth(self, queue: str) -> int:
        lane = self._lanes.get(queue)
        return len(lane) if lane else 0

    async def oldest_age(self, queue: str, now: float) -> float:
        lane = self._lanes.get(queue)
        if not lane:
            return 0.0
        heads = [d[0].enqueued_at for d in lane.by_owner.values() if d]
        return max(0.0, now - min(heads)) if heads else 0.0

    async def queues(self) -> list[str]:
        return [name for name, lane in self._lanes.items() if len(lane)]
