"""The Queue contract on both implementations: in-process, and Redis Streams (real Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis import asyncio as aioredis
from tests.backends import REDIS_URL, parts, redis_prefix, redis_server

from modelyard.queue import LocalQueue, Queue, QueueItem, QueueUnavailable, RedisQueue
from modelyard.queue.redis import demand_stream

MakeQueue = Callable[..., Awaitable[Queue]]


def item(pid: str, owner: str, queue: str = "q", at: float = 0.0) -> QueueItem:
    return QueueItem(prediction_id=pid, queue=queue, owner=owner, enqueued_at=at)


@pytest.fixture(params=["local", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[MakeQueue]:
    """Queues of one backend; for Redis each call is another consumer of the same queues."""
    redis = functools.partial(RedisQueue, REDIS_URL)
    async with parts(request.param, LocalQueue(), redis) as factory:
        yield factory


async def lease_now(q: Queue, name: str = "q") -> str | None:
    leased = await q.lease(name, timeout=0)
    return leased.prediction_id if leased else None


async def test_fifo_within_one_owner(make: MakeQueue) -> None:
    q = await make()
    for i in range(3):
        await q.enqueue(item(f"p{i}", "a"))
    assert [await lease_now(q) for _ in range(3)] == ["p0", "p1", "p2"]
    assert await lease_now(q) is None


async def test_owners_interleave(make: MakeQueue) -> None:
    q = await make()
    for i in range(20):
        await q.enqueue(item(f"a{i}", "alice"))
    for i in range(2):
        await q.enqueue(item(f"b{i}", "bob"))
    await q.enqueue(item("c0", "carol"))
    order = [await lease_now(q) for _ in range(6)]
    # One of each owner before anyone's second turn; bob's second before alice's third.
    assert set(order[:3]) == {"a0", "b0", "c0"}
    assert order.index("b1") < order.index("a2")


async def test_enqueue_is_idempotent_until_acked(make: MakeQueue) -> None:
    q = await make()
    await q.enqueue(item("p", "a"))
    await q.enqueue(item("p", "a"))
    assert await q.depth("q") == 1
    assert await lease_now(q) == "p"
    assert await lease_now(q) is None
    if isinstance(q, RedisQueue):  # leased, not acked: the reconciler's re-enqueue is a no-op
        await q.enqueue(item("p", "a"))
        assert await q.depth("q") == 0
    await q.ack("p")
    await q.enqueue(item("p", "a"))  # done with: it may come again (a new try)
    assert await lease_now(q) == "p"


async def test_remove_only_what_waits(make: MakeQueue) -> None:
    q = await make()
    await q.enqueue(item("p1", "a"))
    await q.enqueue(item("p2", "a"))
    await q.enqueue(item("p3", "b"))
    assert await lease_now(q) == "p1"
    assert await q.remove("p1") is False  # leased: the runtime cancels it
    assert await q.remove("p2") is True
    assert await q.remove("p2") is False
    assert await q.remove("unknown") is False
    assert await q.depth("q") == 1
    assert await lease_now(q) == "p3"
    assert await lease_now(q) is None


async def test_lease_waits_for_an_item(make: MakeQueue) -> None:
    consumer, producer = await make(), await make()
    waiter = asyncio.ensure_future(consumer.lease("q", timeout=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    began = time.monotonic()
    await producer.enqueue(item("p", "a"))
    assert (await waiter).prediction_id == "p"  # type: ignore[union-attr]
    assert time.monotonic() - began < 0.5  # woken by the enqueue, not by a poll
    assert await consumer.lease("q", timeout=0.05) is None


async def test_an_enqueue_elsewhere_sets_changed(make: MakeQueue) -> None:
    watcher, producer = await make(), await make()
    await asyncio.sleep(0.05)
    watcher.changed.clear()
    await producer.enqueue(item("p", "a", queue="other"))
    await asyncio.wait_for(watcher.changed.wait(), 2)


async def test_depth_oldest_age_and_queues(make: MakeQueue) -> None:
    q = await make()
    assert await q.depth("q") == 0 and await q.oldest_age("q", now=1.0) == 0.0
    await q.enqueue(item("p1", "a", at=100.0))
    await q.enqueue(item("p2", "b", at=105.0))
    await q.enqueue(item("x1", "a", queue="x", at=107.0))
    assert await q.depth("q") == 2 and sorted(await q.queues()) == ["q", "x"]
    assert await q.oldest_age("q", now=110.0) == 10.0
    assert await lease_now(q) == "p1"
    assert await q.oldest_age("q", now=110.0) == 5.0
    assert await lease_now(q, "x") == "x1"
    assert await q.queues() == ["q"]


# -- leases held in Redis ------------------------------------------------------------------------


@pytest.fixture
async def redis_queues() -> AsyncIterator[Callable[..., Awaitable[RedisQueue]]]:
    made: list[RedisQueue] = []
    async with redis_prefix() as prefix:

        async def factory(**kwargs: object) -> RedisQueue:
            queue = RedisQueue(REDIS_URL, prefix=prefix, **kwargs)  # type: ignore[arg-type]
            made.append(queue)
            return queue

        yield factory
        for queue in made:
            await queue.close()


async def test_what_a_dead_consumer_leased_is_reclaimed(
    redis_queues: Callable[..., Awaitable[RedisQueue]],
) -> None:
    dead = await redis_queues(consumer="dead", lease_ttl=0.3)
    live = await redis_queues(consumer="live", lease_ttl=0.3)
    for i in range(3):
        await dead.enqueue(item(f"p{i}", "a"))
    assert await lease_now(dead) == "p0"
    assert await lease_now(dead) == "p1"
    await dead.ack("p0")  # finished; p1 leased and never acked: the process died
    assert await live.reclaim(min_idle=10) == []  # not idle long enough yet
    await asyncio.sleep(0.35)
    assert await live.reclaim() == ["p1"]
    assert await live.reclaim() == []  # exactly once
    assert await live.depth("q") == 2
    assert {await lease_now(live), await lease_now(live)} == {"p1", "p2"}
    await live.ack("p1")
    await live.ack("p2")
    assert await live.reclaim(min_idle=0) == []


async def test_a_live_consumer_keeps_its_leases(
    redis_queues: Callable[..., Awaitable[RedisQueue]],
) -> None:
    owner = await redis_queues(consumer="busy", lease_ttl=0.3)
    other = await redis_queues(consumer="other", lease_ttl=0.3)
    await owner.start()  # renews its leases every lease_ttl / 3
    await owner.enqueue(item("p", "a"))
    assert await lease_now(owner) == "p"
    await asyncio.sleep(0.8)  # a long prediction
    assert await other.reclaim() == []
    await owner.close()  # it dies without acking: now it goes back
    await asyncio.sleep(0.35)
    assert await other.reclaim() == ["p"]


async def test_reclaim_from_a_lost_consumer_at_once(
    redis_queues: Callable[..., Awaitable[RedisQueue]],
) -> None:
    lost = await redis_queues(consumer="lost")
    leader = await redis_queues(consumer="leader")
    await lost.enqueue(item("p", "a"))
    await lost.enqueue(item("r", "b"))
    assert await lease_now(lost) == "p"
    assert await lease_now(lost) == "r"
    await lost.ack("r")
    assert await leader.reclaim_from("someone-else") == []
    assert await leader.reclaim_from("lost") == ["p"]
    assert await lease_now(leader) == "p"


async def test_removed_while_waiting_is_never_reclaimed(
    redis_queues: Callable[..., Awaitable[RedisQueue]],
) -> None:
    q = await redis_queues(consumer="c")
    await q.enqueue(item("p", "a"))
    assert await q.remove("p") is True
    assert await q.reclaim(min_idle=0) == []
    assert await lease_now(q) is None


async def test_the_lease_loop_survives_a_redis_restart(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        queue = RedisQueue(server.url, consumer="c", lease_ttl=1.0)
        await queue.start()
        leased: list[str] = []

        async def lease_loop() -> None:
            while True:
                got = await queue.lease("q")
                if got is not None:
                    leased.append(got.prediction_id)
                    with contextlib.suppress(QueueUnavailable):  # as the scheduler does
                        await queue.ack(got.prediction_id)

        loop = asyncio.ensure_future(lease_loop())
        try:
            await queue.enqueue(item("before", "a"))
            await until(lambda: leased == ["before"])
            server.stop()  # no persistence: Redis comes back empty
            await asyncio.sleep(0.5)
            assert not loop.done()
            server.start()
            await queue.enqueue(item("after", "a"))
            await until(lambda: leased == ["before", "after"])
            assert not loop.done()
            # The signal follower reconnected too: an enqueue by another process wakes us.
            other = RedisQueue(server.url, consumer="d")
            queue.changed.clear()
            await other.enqueue(item("x", "b", queue="elsewhere"))
            await asyncio.wait_for(queue.changed.wait(), 5)
            await other.close()
        finally:
            loop.cancel()
            await queue.close()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_stale_ack_leaves_the_new_holders_lease(
    redis_queues: Callable[..., Awaitable[RedisQueue]],
) -> None:
    slow = await redis_queues(consumer="slow", lease_ttl=0.2)
    other = await redis_queues(consumer="other", lease_ttl=0.2)
    await slow.enqueue(item("p", "a"))
    assert await lease_now(slow) == "p"
    await asyncio.sleep(0.25)  # `slow` stalls past its TTL: the item goes back, `other` takes it
    assert await other.reclaim() == ["p"]
    assert await lease_now(other) == "p"
    await slow.ack("p")  # late: must not end `other`'s lease
    await slow.enqueue(item("p", "a"))  # a reconciler's re-enqueue is still a no-op
    assert await other.depth("q") == 0
    await asyncio.sleep(0.25)
    assert await slow.reclaim() == ["p"]  # `other` died too: its lease was still there


async def test_demand_streams_count_what_waits_per_hardware_class(
    redis_queues: Callable[..., Awaitable[RedisQueue]],
) -> None:
    dead = await redis_queues(consumer="dead", lease_ttl=0.2)
    live = await redis_queues(consumer="live", lease_ttl=0.2)
    client = aioredis.Redis.from_url(REDIS_URL)

    async def lag(hardware: str) -> int:
        groups = await client.xinfo_groups(demand_stream(hardware, dead.keys.prefix))
        assert [g["name"] for g in groups] == [b"workers"]  # the group KEDA reads
        return int(groups[0]["lag"])

    try:
        for i in range(3):
            await live.enqueue(QueueItem(f"c{i}", "q", "a", float(i), "cpu"))
        await live.enqueue(QueueItem("g0", "g", "a", 0.0, "gpu-t4"))
        await live.enqueue(QueueItem("n0", "q", "a", 9.0))  # no class: no demand entry
        await live.enqueue(QueueItem("c0", "q", "a", 0.0, "cpu"))  # a duplicate: none either
        assert (await lag("cpu"), await lag("gpu-t4")) == (3, 1)
        assert await lease_now(dead) == "c0"
        assert await lag("cpu") == 2
        assert await live.remove("c1") is True
        assert await lag("cpu") == 1
        await asyncio.sleep(0.25)
        assert await live.reclaim() == ["c0"]  # `dead` never acked: it waits again
        assert await lag("cpu") == 2
        leased = await live.lease("g", timeout=0)
        assert leased is not None and leased.hardware == "gpu-t4"
        assert await lag("gpu-t4") == 0
    finally:
        await client.aclose()
