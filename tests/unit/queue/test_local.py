from __future__ import annotations

import asyncio

from modelyard.queue import LocalQueue, QueueItem


def item(pid: str, owner: str, queue: str = "q", at: float = 0.0) -> QueueItem:
    return QueueItem(prediction_id=pid, queue=queue, owner=owner, enqueued_at=at)


async def lease_now(q: LocalQueue) -> str | None:
    leased = await q.lease("q", timeout=0)
    return leased.prediction_id if leased else None


async def test_fifo_within_one_owner() -> None:
    q = LocalQueue()
    for i in range(3):
        await q.enqueue(item(f"p{i}", "a"))
    assert [await lease_now(q) for _ in range(3)] == ["p0", "p1", "p2"]
    assert await q.lease("q", timeout=0) is None


async def test_owners_interleave() -> None:
    q = LocalQueue()
    for i in range(50):
        await q.enqueue(item(f"a{i}", "alice"))
    await q.enqueue(item("b0", "bob"))
    order = [await lease_now(q) for _ in range(4)]
    assert order.index("b0") <= 1


async def test_enqueue_is_idempotent_and_remove() -> None:
    q = LocalQueue()
    await q.enqueue(item("p", "a"))
    await q.enqueue(item("p", "a"))
    assert await q.depth("q") == 1
    assert await q.remove("p") is True
    assert await q.remove("p") is False
    assert await q.depth("q") == 0


async def test_lease_waits_for_an_item() -> None:
    q = LocalQueue()
    waiter = asyncio.ensure_future(q.lease("q", timeout=5))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await q.enqueue(item("p", "a"))
    assert (await waiter).prediction_id == "p"  # type: ignore[union-attr]
    assert await q.lease("q", timeout=0.01) is None


async def test_depth_and_oldest_age() -> None:
    q = LocalQueue()
    await q.enqueue(item("p1", "a", at=100.0))
    await q.enqueue(item("p2", "b", at=105.0))
    assert await q.depth("q") == 2 and await q.queues() == ["q"]
    assert await q.oldest_age("q", now=110.0) == 10.0
