"""The EventBus contract on both implementations: in-process, and Redis Streams (real Redis)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis import asyncio as aioredis
from tests.backends import REDIS_URL, parts, redis_prefix

from modelyard.events import DONE, LOGS, OUTPUT, EventBus, LocalEventBus, RedisEventBus

MakeBus = Callable[..., Awaitable[EventBus]]


@pytest.fixture(params=["local", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    """Buses of one backend; for Redis each call is another process's bus on the same keys."""
    redis = functools.partial(RedisEventBus, REDIS_URL)
    async with parts(request.param, LocalEventBus(), redis) as factory:
        yield factory


async def collect(bus: EventBus, pid: str) -> list[tuple[str, object]]:
    return [(e.kind, e.data) async for e in bus.subscribe(pid)]


async def test_late_subscriber_gets_replay_then_live_events(make: MakeBus) -> None:
    worker, api = await make(), await make()
    worker.open("p")
    worker.publish("p", OUTPUT, "a")
    worker.publish("p", LOGS, "line\n")
    await asyncio.sleep(0.05)
    assert await api.has_history("p")
    task = asyncio.ensure_future(collect(api, "p"))
    await asyncio.sleep(0.05)
    worker.publish("p", OUTPUT, {"b": [1, 2]})
    worker.publish("p", DONE, {"status": "succeeded"})
    events = await asyncio.wait_for(task, 3)
    assert events == [
        (OUTPUT, "a"),
        (LOGS, "line\n"),
        (OUTPUT, {"b": [1, 2]}),
        (DONE, {"status": "succeeded"}),
    ]
    seqs = [e.seq async for e in api.subscribe("p")]
    assert seqs == [0, 1, 2, 3]


async def test_opened_prediction_has_history_before_its_first_event(make: MakeBus) -> None:
    bus = await make()
    assert not await bus.has_history("new")
    bus.open("new")
    await asyncio.sleep(0.05)
    assert await bus.has_history("new")
    task = asyncio.ensure_future(collect(bus, "new"))
    await asyncio.sleep(0.05)
    assert not task.done()  # the marker is no event
    bus.publish("new", DONE, {})
    assert await asyncio.wait_for(task, 3) == [(DONE, {})]


async def test_wait_done_across_buses(make: MakeBus) -> None:
    worker, api = await make(), await make()
    worker.open("p")
    assert await api.wait_done("p", 0.05) is False
    asyncio.get_running_loop().call_later(0.05, worker.publish, "p", DONE, {})
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await api.wait_done("p", 3) is True
    assert loop.time() - began < 0.5  # woken by the signal, not by a poll
    assert await api.wait_done("p", 0) is True  # already done


async def test_cancel_requests_reach_every_bus(make: MakeBus) -> None:
    api, worker = await make(), await make()
    received: list[str] = []

    async def follow() -> None:
        async for pid in worker.cancel_requests():
            received.append(pid)

    task = asyncio.ensure_future(follow())
    await asyncio.sleep(0.05)
    await api.request_cancel("p1")
    await api.request_cancel("p2")
    for _ in range(100):
        if received == ["p1", "p2"]:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert received == ["p1", "p2"]


async def test_finished_history_expires_after_done_ttl() -> None:
    async with redis_prefix() as prefix:
        bus = RedisEventBus(REDIS_URL, prefix=prefix, done_ttl=60, live_ttl=600)
        await bus.start()
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            bus.open("p")
            bus.publish("p", OUTPUT, 1)
            assert await bus.flush(3)
            assert 590 < await client.ttl(bus.key("p")) <= 600
            bus.publish("p", DONE, {})
            assert await bus.flush(3)
            assert 50 < await client.ttl(bus.key("p")) <= 60
        finally:
            await client.aclose()
            await bus.close()


async def test_publish_waits_out_a_redis_restart(tmp_path: object) -> None:
    from pathlib import Path

    from tests.backends import redis_server

    with redis_server(Path(str(tmp_path))) as server:
        worker, api = RedisEventBus(server.url), RedisEventBus(server.url)
        await worker.start()
        await api.start()
        try:
            server.stop()
            worker.open("p")
            worker.publish("p", OUTPUT, "kept")
            await asyncio.sleep(0.3)
            server.start()
            worker.publish("p", DONE, {})
            assert await worker.flush(10)
            assert await api.wait_done("p", 5)
            assert await collect(api, "p") == [(OUTPUT, "kept"), (DONE, {})]
        finally:
            await worker.close()
            await api.close()
