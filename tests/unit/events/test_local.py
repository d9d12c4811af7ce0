from __future__ import annotations

import asyncio

from modelyard.events import DONE, LOGS, OUTPUT, LocalEventBus


async def collect(bus: LocalEventBus, pid: str) -> list[tuple[str, object]]:
    return [(e.kind, e.data) async for e in bus.subscribe(pid)]


async def test_late_subscriber_gets_replay_then_live_events() -> None:
    bus = LocalEventBus()
    bus.open("p")
    bus.publish("p", OUTPUT, "a")
    bus.publish("p", LOGS, "line\n")
    task = asyncio.ensure_future(collect(bus, "p"))
    await asyncio.sleep(0.01)
    bus.publish("p", OUTPUT, "b")
    bus.publish("p", DONE, {"status": "succeeded"})
    events = await asyncio.wait_for(task, 1)
    assert events == [
        (OUTPUT, "a"),
        (LOGS, "line\n"),
        (OUTPUT, "b"),
        (DONE, {"status": "succeeded"}),
    ]


async def test_subscriber_to_finished_prediction_gets_everything() -> None:
    bus = LocalEventBus()
    bus.publish("p", OUTPUT, "x")
    bus.publish("p", DONE, {})
    assert await collect(bus, "p") == [(OUTPUT, "x"), (DONE, {})]


async def test_wait_done() -> None:
    bus = LocalEventBus()
    bus.open("p")
    assert await bus.wait_done("p", 0.01) is False
    asyncio.get_running_loop().call_later(0.01, bus.publish, "p", DONE, {})
    assert await bus.wait_done("p", 1) is True
