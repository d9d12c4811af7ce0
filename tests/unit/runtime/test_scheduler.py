"""The scheduler's decisions, with fake instances: scaling, warm minimums, draining, GPUs."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelyard.core.errors import InstanceError, NotFound
from modelyard.queue import LocalQueue, QueueItem
from modelyard.runtime.hardware import GpuAllocator, inventory
from modelyard.runtime.instance import Done, InstanceSpec, Started, Undelivered
from modelyard.runtime.pools import InstanceInfo, PoolConfig
from modelyard.runtime.scheduler import MAX_DELIVERIES, Job, Scheduler

_ids = itertools.count(1)


class FakeInstance:
    """Boots in `boot` seconds; a prediction sleeps `input["seconds"]` and returns the GPUs."""

    # How many of the next instances lost their worker before their first prediction.
    lose_worker: int = 0

    def __init__(self, spec: InstanceSpec, boot: float = 0.02, fail: str | None = None) -> None:
        self.id = f"fake-{next(_ids)}"
        self.spec = spec
        self.state = "booting"
        self.pid = 10_000 + next(_ids)
        self.ready_at: datetime | None = None
        self.failure: str | None = None
        self.setup_logs = "setup done"
        self.boot, self.fail = boot, fail
        self.running = 0
        self.ran: list[str] = []  # predictions that reached the model
        self.worker_gone = FakeInstance.lose_worker > 0
        FakeInstance.lose_worker = max(0, FakeInstance.lose_worker - 1)

    @property
    def alive(self) -> bool:
        return self.state in ("booting", "idle", "busy")

    async def start(self) -> None:
        await asyncio.sleep(self.boot)
        if self.fail:
            self.state, self.failure = "failed", self.fail
            raise InstanceError(self.fail)
        self.state, self.ready_at = "idle", datetime.now(UTC)

    async def stop(self, grace: float = 5.0) -> None:
        self.state = "stopped"

    def kill(self, reason: str = "killed") -> None:
        self.state, self.failure = "failed", reason

    async def healthy(self) -> bool:
        return self.state in ("idle", "busy")

    async def cancel(self, prediction_id: str) -> None:
        return None

    def forget_cancel(self, prediction_id: str) -> None:
        return None

    async def predict(
        self, prediction_id: str, input: dict[str, Any], *, context: Any = None
    ) -> AsyncIterator[Any]:
        if self.worker_gone:  # like coglet: `start`, then "Failed to send request"
            self.state, self.failure = "failed", "the model worker had already crashed"
            raise Undelivered(f"{self.id} had lost its worker")
        self.running += 1
        self.state = "busy"
        self.ran.append(prediction_id)
        try:
            yield Started()
            await asyncio.sleep(input.get("seconds", 0))
            yield Done(status="succeeded", output=list(self.spec.gpu_devices or ()))
        finally:
            self.running -= 1
            if self.state == "busy" and not self.running:
                self.state = "idle"


class FakeSink:
    """Records what the scheduler reports; configurations come from `configs`."""

    def __init__(self) -> None:
        self.configs: dict[str, PoolConfig] = {}
        self.done: dict[str, Done] = {}
        self.started_on: dict[str, str] = {}
        self.redelivered_on: dict[str, list[str]] = {}
        self.abandoned_: dict[str, str] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self.records: list[InstanceInfo] = []

    async def config_for(self, queue: str) -> PoolConfig:
        if queue not in self.configs:
            raise NotFound("gone")
        return self.configs[queue]

    async def prepare(self, prediction_id: str) -> Job | None:
        return Job(prediction_id, self.inputs.get(prediction_id, {}))

    async def started(self, prediction_id: str, instance_id: str) -> bool:
        self.started_on[prediction_id] = instance_id
        return True

    async def redelivered(self, prediction_id: str, instance_id: str) -> bool:
        self.redelivered_on.setdefault(prediction_id, []).append(instance_id)
        return prediction_id not in self.done

    async def event(self, prediction_id: str, event: Any) -> None:
        return None

    async def finished(self, prediction_id: str, done: Done) -> None:
        self.done[prediction_id] = done

    async def abandoned(self, prediction_id: str, error: str, logs: str = "") -> None:
        self.abandoned_[prediction_id] = error

    async def instance_changed(self, info: InstanceInfo) -> None:
        self.records.append(info)


def config(version: str = "v1", **kwargs: Any) -> PoolConfig:
    spec = InstanceSpec(
        version_id=version, source_dir=Path("/"), venv_dir=Path("/"), predict_ref="p.py:R"
    )
    return PoolConfig(spec=spec, model="o/m", **kwargs)


Factory = Callable[..., tuple[Scheduler, FakeSink, LocalQueue]]


@pytest.fixture
async def make() -> AsyncIterator[Factory]:
    made: list[tuple[Scheduler, asyncio.Task[None]]] = []

    def factory(
        *, idle_timeout: float = 30.0, hardware: str = "", **instance: Any
    ) -> tuple[Scheduler, FakeSink, LocalQueue]:
        queue, sink = LocalQueue(), FakeSink()
        scheduler = Scheduler(
            queue,
            sink,
            lambda spec: FakeInstance(spec, **instance),  # type: ignore[arg-type,return-value]
            idle_timeout=idle_timeout,
            prediction_timeout=30,
            pid_dir=Path("/nonexistent"),
            gpus=GpuAllocator(inventory(hardware)),
            scale_up_wait=0.5,
        )
        made.append((scheduler, asyncio.create_task(scheduler.run())))
        return scheduler, sink, queue

    yield factory
    FakeInstance.lose_worker = 0
    for scheduler, task in made:
        await scheduler.shutdown(grace=1)
        task.cancel()


async def submit(
    queue: LocalQueue, sink: FakeSink, name: str, n: int, seconds: float = 0.0, owner: str = "a"
) -> list[str]:
    ids = []
    for _ in range(n):
        pid = f"p{next(_ids)}"
        sink.inputs[pid] = {"seconds": seconds}
        await queue.enqueue(QueueItem(pid, name, owner, time.time()))
        ids.append(pid)
    return ids


async def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def live(scheduler: Scheduler, queue: str | None = None) -> list[InstanceInfo]:
    return [i for i in scheduler.instances() if queue is None or i.queue == queue]


async def test_burst_boots_up_to_max_and_scales_to_zero(make: Factory) -> None:
    scheduler, sink, queue = make(idle_timeout=0.2)
    sink.configs["q"] = config(max_instances=2)
    peak = 0
    ids = await submit(queue, sink, "q", 10, seconds=0.02)
    while len(sink.done) < 10:
        peak = max(peak, len(live(scheduler)))
        await asyncio.sleep(0.005)
    assert peak == 2
    assert len(set(sink.started_on.values())) == 2
    assert all(sink.done[p].status == "succeeded" for p in ids)
    await until(lambda: not live(scheduler))
    stopped = [r for r in sink.records if r.state == "stopped"]
    assert {r.stop_reason for r in stopped} == {"idle"}
    assert sum(r.predictions for r in stopped) == 10


async def test_min_instances_start_without_work_and_survive_idling(make: Factory) -> None:
    scheduler, sink, _ = make(idle_timeout=0.05)
    sink.configs["d"] = config(min_instances=2, max_instances=3)
    await scheduler.configure("d")
    await until(lambda: [i.state for i in live(scheduler)] == ["idle", "idle"])
    before = {i.id for i in live(scheduler)}
    await asyncio.sleep(0.3)
    assert {i.id for i in live(scheduler)} == before
    # A dead one is replaced.
    victim = scheduler.pools["d"].members[0].instance
    victim.kill()
    await until(lambda: victim.id not in {i.id for i in live(scheduler)})
    await until(lambda: len([i for i in live(scheduler) if i.state == "idle"]) == 2)


async def test_new_version_drains_old_instances(make: Factory) -> None:
    scheduler, sink, queue = make()
    sink.configs["d"] = config("v1", max_instances=1)
    [slow] = await submit(queue, sink, "d", 1, seconds=0.3)
    await until(lambda: slow in sink.started_on)
    old = sink.started_on[slow]
    sink.configs["d"] = config("v2", max_instances=1)
    await scheduler.configure("d")
    assert {i.id: i.state for i in live(scheduler)}[old] == "stopping"
    [fast] = await submit(queue, sink, "d", 1)
    await until(lambda: fast in sink.done and slow in sink.done)
    assert sink.done[slow].status == "succeeded"
    assert sink.started_on[fast] != old
    await until(lambda: [i.version for i in live(scheduler)] == ["v2"])
    drained = [r for r in sink.records if r.id == old and r.state == "stopped"]
    assert drained and drained[0].stop_reason == "drained"


async def test_gpus_are_never_shared_and_idle_ones_are_evicted(make: Factory) -> None:
    scheduler, sink, queue = make(hardware="gpu-t4=2")
    for name in ("g1", "g2", "g3"):
        sink.configs[name] = config(name, hardware="gpu-t4", gpus=1)
    a = await submit(queue, sink, "g1", 1, seconds=0.2)
    b = await submit(queue, sink, "g2", 1, seconds=0.2)
    await until(lambda: a[0] in sink.started_on and b[0] in sink.started_on)
    [c] = await submit(queue, sink, "g3", 1)
    await asyncio.sleep(0.1)
    assert c not in sink.started_on  # both GPUs busy: it waits
    peak = 0
    while c not in sink.done:
        peak = max(peak, len(live(scheduler)))
        held = [g for i in live(scheduler) for g in i.gpus]
        assert len(held) == len(set(held))  # no GPU held twice, ever
        await asyncio.sleep(0.002)
    assert peak <= 2
    outputs = [sink.done[p].output for p in (a[0], b[0], c)]
    assert sorted(outputs[:2]) == [[0], [1]] and outputs[2] in ([0], [1])
    evicted = [r for r in sink.records if r.stop_reason == "evicted" and r.state == "stopped"]
    assert len(evicted) == 1 and evicted[0].gpus == tuple(outputs[2])


async def test_a_full_worker_evicts_an_idle_instance_for_other_work(make: Factory) -> None:
    """A cluster worker at its capacity stops the least recently used idle instance of a
    queue with nothing waiting, rather than leaving new work to wait out the idle timeout."""
    scheduler, sink, queue = make(idle_timeout=300)
    scheduler.capacity = 2
    for name in ("a", "b", "c", "warm"):
        sink.configs[name] = config(name, min_instances=1 if name == "warm" else 0)
    await scheduler.configure("warm")
    first = await submit(queue, sink, "a", 1)
    await until(lambda: first[0] in sink.done)
    assert sorted(i.queue for i in live(scheduler)) == ["a", "warm"]
    [waiting] = await submit(queue, sink, "b", 1)
    await until(lambda: waiting in sink.done)
    assert sink.done[waiting].status == "succeeded"
    assert sorted(i.queue for i in live(scheduler)) == ["b", "warm"]  # never above capacity
    evicted = [r for r in sink.records if r.stop_reason == "evicted" and r.state == "stopped"]
    assert [r.queue for r in evicted] == ["a"]
    busy = await submit(queue, sink, "b", 1, seconds=0.4)
    await until(lambda: busy[0] in sink.started_on)
    [blocked] = await submit(queue, sink, "c", 1)
    await asyncio.sleep(0.2)
    assert blocked not in sink.started_on  # the busy one and the warm minimum both stay
    await until(lambda: blocked in sink.done)


async def test_warm_minimum_is_never_evicted(make: Factory) -> None:
    scheduler, sink, queue = make(hardware="gpu-t4=1")
    sink.configs["warm"] = config("w", hardware="gpu-t4", gpus=1, min_instances=1)
    sink.configs["other"] = config("o", hardware="gpu-t4", gpus=1)
    await scheduler.configure("warm")
    await until(lambda: [i.state for i in live(scheduler)] == ["idle"])
    [waiting] = await submit(queue, sink, "other", 1)
    await asyncio.sleep(0.3)
    assert waiting not in sink.started_on
    assert [i.queue for i in live(scheduler)] == ["warm"]


async def test_failed_boot_fails_waiting_predictions(make: Factory) -> None:
    scheduler, sink, queue = make(fail="Model setup failed: boom")
    sink.configs["q"] = config()
    ids = await submit(queue, sink, "q", 3)
    await until(lambda: len(sink.abandoned_) == 3)
    assert all("boom" in sink.abandoned_[p] for p in ids)
    failed = [r for r in sink.records if r.state == "failed"]
    assert failed and failed[0].setup_logs == "setup done"


async def test_unknown_queue_fails_its_predictions(make: Factory) -> None:
    scheduler, sink, queue = make()
    [pid] = await submit(queue, sink, "version:404", 1)
    await until(lambda: pid in sink.abandoned_)
    assert "could not be started" in sink.abandoned_[pid]


async def test_more_gpus_than_installed_fails_clearly(make: Factory) -> None:
    scheduler, sink, queue = make(hardware="gpu-t4=1")
    sink.configs["big"] = config(hardware="gpu-t4-2x", gpus=2)
    [pid] = await submit(queue, sink, "big", 1)
    await until(lambda: pid in sink.abandoned_)
    assert "GPU" in sink.abandoned_[pid]


async def test_owners_interleave_on_one_slot(make: Factory) -> None:
    scheduler, sink, queue = make()
    sink.configs["q"] = config(max_instances=1)
    burst = await submit(queue, sink, "q", 20, seconds=0.005, owner="alice")
    [bob] = await submit(queue, sink, "q", 1, seconds=0.005, owner="bob")
    await until(lambda: len(sink.done) == 21)
    order = list(sink.started_on)
    assert order.index(bob) <= 2, order.index(bob)
    assert set(burst) <= set(order)


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[FakeInstance]:
    """Every FakeInstance made during the test, in order."""
    made: list[FakeInstance] = []
    original = FakeInstance.__init__

    def init(self: FakeInstance, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(FakeInstance, "__init__", init)
    return made


async def test_a_prediction_that_never_reached_the_model_runs_on_a_replacement(
    make: Factory, spawned: list[FakeInstance]
) -> None:
    scheduler, sink, queue = make()
    sink.configs["q"] = config(max_instances=1)
    FakeInstance.lose_worker = 1
    [pid] = await submit(queue, sink, "q", 1)
    await until(lambda: pid in sink.done or pid in sink.abandoned_)
    assert pid not in sink.abandoned_
    assert sink.done[pid].status == "succeeded"
    dead, fresh = spawned[0], spawned[1]
    assert sink.started_on[pid] == dead.id and sink.redelivered_on[pid] == [fresh.id]
    assert [i.id for i in spawned if pid in i.ran] == [fresh.id]  # it ran exactly once
    await until(lambda: dead.state == "stopped")


async def test_redelivery_is_counted_and_gives_up(
    make: Factory, spawned: list[FakeInstance]
) -> None:
    scheduler, sink, queue = make()
    sink.configs["q"] = config(max_instances=1)
    FakeInstance.lose_worker = 100
    [pid] = await submit(queue, sink, "q", 1)
    await until(lambda: pid in sink.abandoned_)
    assert "lost its worker" in sink.abandoned_[pid]
    assert len(sink.redelivered_on[pid]) == MAX_DELIVERIES - 1
    assert not [i for i in spawned if i.ran]
    assert pid not in scheduler.running


async def test_a_waiting_redelivery_can_be_canceled(make: Factory) -> None:
    scheduler, sink, queue = make(boot=0.5)
    sink.configs["q"] = config(max_instances=1)
    FakeInstance.lose_worker = 1
    [pid] = await submit(queue, sink, "q", 1)
    await until(lambda: "q" in scheduler.pools and scheduler.pools["q"].redeliveries)
    await scheduler.cancel(pid)
    assert sink.done[pid].status == "canceled"
    await asyncio.sleep(0.7)  # the replacement boots and finds nothing to run
    assert pid not in sink.redelivered_on and pid not in scheduler.running


async def test_drain_finishes_running_work_and_leaves_the_queue(make: Factory) -> None:
    scheduler, sink, queue = make()
    sink.configs["q"] = config(max_instances=1)
    [running] = await submit(queue, sink, "q", 1, seconds=0.3)
    await until(lambda: running in sink.started_on)
    waiting = await submit(queue, sink, "q", 3)
    began = time.monotonic()
    await scheduler.drain(grace=5)
    assert time.monotonic() - began < 1
    assert sink.done[running].status == "succeeded"
    assert await queue.depth("q") == 3 and not set(waiting) & set(sink.started_on)


async def test_drain_gives_up_after_its_grace(make: Factory) -> None:
    scheduler, sink, queue = make()
    sink.configs["q"] = config(max_instances=1)
    [slow] = await submit(queue, sink, "q", 1, seconds=2)
    await until(lambda: slow in sink.started_on)
    began = time.monotonic()
    await scheduler.drain(grace=0.3)
    assert 0.25 < time.monotonic() - began < 1
    assert slow not in sink.done


class FakeSlots:
    """Instance slots shared by schedulers, as the workers of a cluster share the database's."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, int]] = {}  # instance id -> (queue, slot)

    async def claim(self, queue: str, limit: int, instance_id: str) -> bool:
        taken = {slot for q, slot in self.held.values() if q == queue}
        free = next((n for n in range(limit) if n not in taken), None)
        if free is None:
            return False
        self.held[instance_id] = (queue, free)
        return True

    async def release(self, instance_id: str) -> None:
        self.held.pop(instance_id, None)


async def test_two_workers_stay_within_max_instances_together(make: Factory) -> None:
    slots = FakeSlots()
    (one, sink, queue), (two, sink_two, _) = make(idle_timeout=0.2), make(idle_timeout=0.2)
    two.queue, two._wake = queue, queue.changed  # both lease from one queue
    for scheduler in (one, two):
        scheduler.slots = slots
    sink_two.configs = sink.configs
    sink_two.inputs = sink.inputs
    sink.configs["q"] = config(min_instances=1, max_instances=2)
    for scheduler in (one, two):
        await scheduler.configure("q")
    await until(lambda: len(live(one)) + len(live(two)) == 1)
    await asyncio.sleep(0.3)  # the other worker tried and found the one warm slot held
    assert len(live(one)) + len(live(two)) == 1
    await submit(queue, sink, "q", 20, seconds=0.02)
    peak = 0
    while len(sink.done) + len(sink_two.done) < 20:
        peak = max(peak, len(live(one)) + len(live(two)))
        await asyncio.sleep(0.005)
    assert peak == 2 and len(slots.held) <= 2


async def test_a_cluster_worker_leaves_work_it_cannot_place_to_others(make: Factory) -> None:
    scheduler, sink, queue = make()  # no GPU here
    scheduler.slots = FakeSlots()
    sink.configs["big"] = config(hardware="gpu-t4", gpus=1)
    [pid] = await submit(queue, sink, "big", 1)
    await asyncio.sleep(0.5)
    assert pid not in sink.abandoned_ and await queue.depth("big") == 1
