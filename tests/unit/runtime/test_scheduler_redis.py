"""Two schedulers (two workers) on one Redis Streams queue: work is shared, nothing runs twice,
and every prediction's lease is acked once it is done with."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis import asyncio as aioredis
from tests.backends import REDIS_URL, redis_prefix
from tests.unit.runtime.test_scheduler import FakeInstance, FakeSink, config

from modelyard.queue import QueueItem, RedisQueue
from modelyard.runtime.hardware import GpuAllocator
from modelyard.runtime.scheduler import Scheduler


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async with redis_prefix() as prefix:
        yield prefix


async def test_two_workers_share_one_queue_and_ack_everything(prefix: str) -> None:
    workers: list[tuple[Scheduler, FakeSink, RedisQueue, asyncio.Task[None]]] = []
    for name in ("w1", "w2"):
        queue = RedisQueue(REDIS_URL, prefix=prefix, consumer=name)
        await queue.start()
        sink = FakeSink()
        sink.configs["q"] = config(max_instances=1)
        scheduler = Scheduler(
            queue,
            sink,
            lambda spec: FakeInstance(spec),  # type: ignore[arg-type,return-value]
            idle_timeout=30,
            prediction_timeout=30,
            pid_dir=Path("/nonexistent"),
            gpus=GpuAllocator(()),
            scale_up_wait=0.1,
        )
        workers.append((scheduler, sink, queue, asyncio.create_task(scheduler.run())))
    api = RedisQueue(REDIS_URL, prefix=prefix, consumer="api")
    try:
        ids = [f"p{i}" for i in range(40)]
        for pid in ids:
            for _, sink, _, _ in workers:
                sink.inputs[pid] = {"seconds": 0.01}
            await api.enqueue(QueueItem(pid, "q", f"owner{len(pid) % 3}", time.time()))
        deadline = time.monotonic() + 20
        while sum(len(sink.done) for _, sink, _, _ in workers) < len(ids):
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)
        ran: list[Any] = [pid for _, sink, _, _ in workers for pid in sink.done]
        assert sorted(ran) == sorted(ids)  # each exactly once
        assert all(len(sink.done) > 0 for _, sink, _, _ in workers)  # both took work
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            assert await client.hlen(f"{prefix}where") == 0  # every lease acked
            assert await client.hlen(f"{prefix}{{q:q}}:ids") == 0
        finally:
            await client.aclose()
    finally:
        await api.close()
        for scheduler, _, queue, task in workers:
            await scheduler.shutdown(grace=1)
            task.cancel()
            await queue.close()
