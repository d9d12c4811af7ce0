"""The scheduler: leases queued predictions onto model instances, cold-starts and scales to zero."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelyard.core.errors import InstanceError
from modelyard.queue.local import LocalQueue
from modelyard.runtime.instance import Done, Instance, InstanceSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """What an instance needs to run one prediction."""

    prediction_id: str
    input: dict[str, Any]
    context: dict[str, str] | None = None


class JobSink(Protocol):
    """Where the scheduler reports what happens to jobs (implemented by the services layer)."""

    async def spec_for(self, queue: str) -> InstanceSpec: ...

    async def prepare(self, prediction_id: str) -> Job | None: ...

    async def started(self, prediction_id: str, instance_id: str) -> bool: ...

    async def event(self, prediction_id: str, event: Any) -> None: ...

    async def finished(self, prediction_id: str, done: Done) -> None: ...

    async def abandoned(self, prediction_id: str, error: str, logs: str = "") -> None: ...


@dataclass
class _Running:
    job: Job
    instance: Instance
    task: asyncio.Task[None]
    cancel_requested: bool = False


@dataclass
class Pool:
    """The instances of one queue (a version), with their free slots."""

    queue: str
    spec: InstanceSpec
    instances: list[Instance] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)  # instance id -> running jobs
    last_used: dict[str, float] = field(default_factory=dict)
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    max_instances: int = 1

    def free_instance(self) -> Instance | None:
        for inst in self.instances:
            if inst.state != "failed" and self.in_flight.get(inst.id, 0) < self.spec.concurrency:
                return inst
        return None


InstanceFactory = Callable[[InstanceSpec], Instance]


class Scheduler:
    """Runs queued predictions on instances: one dispatcher task per queue with waiting work.

    Cold start: a queue with work and no instance starts one; its predictions stay `starting`
    while it boots. Scale to zero: an instance idle longer than `idle_timeout` is stopped.
    A crashed instance is dropped and replaced on the next job.
    """

    def __init__(
        self,
        queue: LocalQueue,
        sink: JobSink,
        make_instance: InstanceFactory,
        *,
        idle_timeout: float,
        prediction_timeout: float,
        pid_dir: Path,
    ) -> None:
        self.queue = queue
        self.sink = sink
        self.make_instance = make_instance
        self.idle_timeout = idle_timeout
        self.prediction_timeout = prediction_timeout
        self.pid_dir = pid_dir
        self.pools: dict[str, Pool] = {}
        self.running: dict[str, _Running] = {}
        self._dispatchers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch the queue and keep one dispatcher alive per queue that has work."""
        while not self._stopping:
            self.queue.any_changed.clear()
            for name in self.queue.queues():
                self._ensure_dispatcher(name)
            await self._reap_idle()
            try:
                await asyncio.wait_for(self.queue.any_changed.wait(), timeout=self._tick())
            except TimeoutError:
                pass

    def _tick(self) -> float:
        return max(0.05, min(1.0, self.idle_timeout / 4 if self.idle_timeout else 1.0))

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop leasing, let running jobs finish for `grace` seconds, then stop every instance."""
        self._stopping = True
        for task in self._dispatchers.values():
            task.cancel()
        if self.running:
            await asyncio.wait([r.task for r in self.running.values()], timeout=grace)
        for pool in self.pools.values():
            for inst in list(pool.instances):
                await inst.stop(grace=1.0)
            pool.instances.clear()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _ensure_dispatcher(self, name: str) -> None:
        task = self._dispatchers.get(name)
        if task is None or task.done():
            self._dispatchers[name] = self._spawn(self._dispatch(name))

    # -- dispatch ----------------------------------------------------------------------------

    async def _pool(self, name: str) -> Pool:
        pool = self.pools.get(name)
        if pool is None:
            pool = self.pools[name] = Pool(queue=name, spec=await self.sink.spec_for(name))
        return pool

    async def _dispatch(self, name: str) -> None:
        try:
            pool = await self._pool(name)
        except Exception as exc:  # the version vanished: fail what waits for it
            await self._fail_waiting(name, f"The version could not be started: {exc}")
            return
        while not self._stopping and self.queue.depth(name):
            instance = pool.free_instance()
            if instance is None:
                if len([i for i in pool.instances if i.state != "failed"]) < pool.max_instances:
                    instance = await self._boot(pool)
                    if instance is None:
                        continue
                else:
                    pool.slot_freed.clear()
                    await pool.slot_freed.wait()
                    continue
            item = self.queue.try_lease(name)
            if item is None:
                break
            job = await self.sink.prepare(item.prediction_id)
            if job is None:
                continue
            pool.in_flight[instance.id] = pool.in_flight.get(instance.id, 0) + 1
            task = self._spawn(self._run_job(pool, instance, job))
            self.running[job.prediction_id] = _Running(job, instance, task)

    async def _boot(self, pool: Pool) -> Instance | None:
        """Start an instance; if it fails, so does every prediction waiting for it (setup logs)."""
        instance = self.make_instance(pool.spec)
        pool.instances.append(instance)
        pool.in_flight[instance.id] = 0
        try:
            await instance.start()
        except InstanceError as exc:
            logger.warning(
                "instance %s of %s failed to start: %s", instance.id, pool.queue, exc.detail
            )
            self._drop(pool, instance)
            await self._fail_waiting(pool.queue, exc.detail, getattr(instance, "setup_logs", ""))
            return None
        pool.last_used[instance.id] = time.monotonic()
        logger.info("instance %s of %s ready", instance.id, pool.queue)
        return instance

    async def _fail_waiting(self, name: str, error: str, logs: str = "") -> None:
        while (item := self.queue.try_lease(name)) is not None:
            await self.sink.abandoned(item.prediction_id, error, logs)

    def _drop(self, pool: Pool, instance: Instance) -> None:
        if instance in pool.instances:
            pool.instances.remove(instance)
        pool.in_flight.pop(instance.id, None)
        pool.last_used.pop(instance.id, None)
        instance.kill()
        pool.slot_freed.set()

    async def _run_job(self, pool: Pool, instance: Instance, job: Job) -> None:
        pid = job.prediction_id
        done: Done | None = None
        try:
            if not await self.sink.started(pid, instance.id):
                return  # canceled between lease and start
            async with asyncio.timeout(self.prediction_timeout):
                async for event in instance.predict(pid, job.input, context=job.context):
                    if isinstance(event, Done):
                        # Report it now; the stream's end (which frees the slot) follows.
                        done = event
                        await self.sink.finished(pid, done)
                    else:
                        await self.sink.event(pid, event)
        except TimeoutError:
            if done is None:
                await instance.cancel(pid)
                await self.sink.abandoned(
                    pid, f"Prediction timed out after {self.prediction_timeout:g} seconds."
                )
        except Exception as exc:  # a broken instance must never leave a prediction hanging
            logger.exception("prediction %s failed in the runtime", pid)
            if done is None:
                await self.sink.abandoned(pid, f"The model instance failed: {exc}")
            instance.kill()
        else:
            if done is None:
                await self.sink.abandoned(
                    pid, "The model instance ended the prediction without a result."
                )
        finally:
            self.running.pop(pid, None)
            pool.in_flight[instance.id] = max(0, pool.in_flight.get(instance.id, 1) - 1)
            pool.last_used[instance.id] = time.monotonic()
            if instance.state == "failed" or not instance.alive:
                self._drop(pool, instance)
            pool.slot_freed.set()
            if self.queue.depth(pool.queue):
                self._ensure_dispatcher(pool.queue)

    # -- control -----------------------------------------------------------------------------

    async def cancel(self, prediction_id: str) -> None:
        running = self.running.get(prediction_id)
        if running is not None:
            running.cancel_requested = True
            await running.instance.cancel(prediction_id)

    def forget(self, prediction_id: str) -> None:
        """A prediction ended before it ran; nothing to do for the runtime."""

    async def _reap_idle(self) -> None:
        now = time.monotonic()
        for pool in self.pools.values():
            for inst in list(pool.instances):
                idle = pool.in_flight.get(inst.id, 0) == 0
                if idle and now - pool.last_used.get(inst.id, now) >= self.idle_timeout:
                    if self.queue.depth(pool.queue):
                        continue
                    pool.instances.remove(inst)
                    pool.in_flight.pop(inst.id, None)
                    pool.last_used.pop(inst.id, None)
                    logger.info(
                        "instance %s of %s idle, stopping (scale to zero)", inst.id, pool.queue
                    )
                    self._spawn(inst.stop())
                elif idle and not inst.alive:
                    self._drop(pool, inst)

    def instances(self) -> list[tuple[Pool, Instance]]:
        return [(pool, inst) for pool in self.pools.values() for inst in pool.instances]
