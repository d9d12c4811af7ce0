"""The scheduler: runs queued predictions on model instances and scales each queue's instances.

One control loop reconciles every pool (the instances of one queue: a version or a deployment)
whenever something changes, and at least once a tick:

* dispatch: lease waiting predictions onto free slots (the queue interleaves owners);
* scale up: boot instances while the queue is deeper than the free slots (booting ones count),
  or its oldest item has waited longer than `scale_up_wait` with nothing booting, up to
  `max_instances`; keep `min_instances` warm, replacing instances that die;
* scale down: stop instances idle longer than `idle_timeout`, down to `min_instances`;
* drain: an instance of an old configuration (a new release) finishes its predictions, then stops;
* place: a GPU instance gets whole GPUs from the allocator; when none is free, an idle instance
  of another queue is evicted (least recently used), else the work waits. A GPU is handed out
  again only once the instance that held it is gone;
* redeliver: a prediction that never reached the model (its instance died first) goes back to
  its pool and runs on another instance, at most `MAX_DELIVERIES` times in all.

SIGTERM drains: `drain()` stops leasing and waits for running predictions, `shutdown()` stops
every instance (what still runs ends failed), `kill_all()` kills them at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from modelyard.core.errors import InstanceError, ModelyardError, ServiceUnavailable
from modelyard.queue.base import Queue, QueueItem
from modelyard.runtime.hardware import GpuAllocator
from modelyard.runtime.instance import Done, Instance, InstanceSpec
from modelyard.runtime.pools import InstanceInfo, Member, Pool, PoolConfig, snapshot

logger = logging.getLogger(__name__)

MAX_BOOT_BACKOFF = 60.0
HEALTH_EVERY = 5.0
SLOT_RETRY = 1.0  # seconds before asking again for an instance slot the cluster refused
MAX_DELIVERIES = 3  # tries of a prediction whose instance died before it reached the model


@dataclass(frozen=True)
class Job:
    """What an instance needs to run one prediction."""

    prediction_id: str
    input: dict[str, Any]
    context: dict[str, str] | None = None
    delivery: int = 1  # counted when an instance is given it
    kind: str = "prediction"  # or "training", with its own time limit
    timeout: float | None = None  # seconds; None: the scheduler's prediction_timeout


class JobSink(Protocol):
    """Where the scheduler gets configuration and reports what happens (the services layer)."""

    async def config_for(self, queue: str) -> PoolConfig: ...

    async def prepare(self, prediction_id: str) -> Job | None: ...

    async def started(self, prediction_id: str, instance_id: str) -> bool: ...

    async def event(self, prediction_id: str, event: Any) -> None: ...

    async def finished(self, prediction_id: str, done: Done) -> None: ...

    async def abandoned(self, prediction_id: str, error: str, logs: str = "") -> None: ...

    async def redelivered(self, prediction_id: str, instance_id: str) -> bool:
        """A processing prediction moves to another instance; False if it ended meanwhile."""

    async def instance_changed(self, info: InstanceInfo) -> None:
        """An instance booted, became ready, failed or stopped (for its boot record)."""


class InstanceSlots(Protocol):
    """Cluster mode: a queue's instances on every worker together stay within its bounds."""

    async def claim(self, queue: str, limit: int, instance_id: str) -> bool:
        """Hold one of the `limit` instance slots of `queue`; False when all are held."""

    async def release(self, instance_id: str) -> None: ...


class InstanceHooks(Protocol):
    """Optional observers of instance lifetimes (billing of setup and idle time)."""

    async def on_instance_started(self, pool: Pool, instance: Instance, seconds: float) -> None: ...

    async def on_instance_stopped(self, pool: Pool, instance: Instance, seconds: float) -> None: ...


@dataclass
class _Running:
    job: Job
    instance: Instance | None  # None while it waits for another instance


InstanceFactory = Callable[[InstanceSpec], Instance]


class Scheduler:
    """Runs queued predictions on instances and decides how many instances each queue has.

    Services call `configure(queue)` when a deployment is created or changed (its warm
    instances start, an old release drains) and `retire(queue)` when it is deleted.
    """

    def __init__(
        self,
        queue: Queue,
        sink: JobSink,
        make_instance: InstanceFactory,
        *,
        idle_timeout: float,
        prediction_timeout: float,
        pid_dir: Path,
        gpus: GpuAllocator | None = None,
        scale_up_wait: float = 2.0,
    ) -> None:
        self.queue = queue
        self.sink = sink
        self.make_instance = make_instance
        self.idle_timeout = idle_timeout
        self.prediction_timeout = prediction_timeout
        self.pid_dir = pid_dir
        self.gpus = gpus or GpuAllocator(())
        self.scale_up_wait = scale_up_wait
        self.hooks: InstanceHooks | None = None
        self.slots: InstanceSlots | None = None
        self.capacity: int | None = None
        self._slot_retry: dict[str, float] = {}  # queue -> when to ask for a slot again
        self.pools: dict[str, Pool] = {}
        self.running: dict[str, _Running] = {}
        self._leaving: dict[Member, Pool] = {}  # members being stopped
        self._freeing: Counter[str] = Counter()  # GPUs, by SKU, of members being stopped
        self._loading: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._boots: dict[Member, asyncio.Task[Any]] = {}
        self._wake = queue.changed  # an enqueue wakes the loop too
        self._stopping = False
        self.draining = False  # SIGTERM: no new leases, running predictions finish
        self._health_at = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile every pool whenever something changes, and at least once a tick."""
        while not self._stopping:
            self._wake.clear()
            try:
                await self._reconcile()
            except ServiceUnavailable as exc:  # the queue's backend is away (Redis restarting)
                logger.warning("the scheduler waits for its queue: %s", exc.__cause__ or exc)
            except Exception:  # one bad pool must not stop the loop
                logger.exception("the scheduler failed to reconcile")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._tick())
            except TimeoutError:
                pass

    def _tick(self) -> float:
        return max(0.05, min(1.0, self.idle_timeout / 4 if self.idle_timeout else 1.0))

    async def drain(self, grace: float) -> None:
        """Stop leasing (what waits stays queued) and wait up to `grace` s for running jobs."""
        self.draining = True
        self._wake.set()
        deadline = time.monotonic() + grace
        while self._on_instances() and (left := deadline - time.monotonic()) > 0:
            jobs = self._jobs()
            if not jobs:
                break
            await asyncio.wait(jobs, timeout=left, return_when=asyncio.FIRST_COMPLETED)

    async def shutdown(self, grace: float = 5.0) -> None:
        """Drain for `grace` seconds, then stop every instance; what still runs ends failed."""
        await self.drain(grace)
        self._stopping = True
        for task in self._boots.values():
            task.cancel()
        await asyncio.gather(
            *(m.instance.stop(grace=1.0) for m in self._members()), return_exceptions=True
        )
        for pool in self.pools.values():
            await self._fail_redeliveries(pool, "The platform stopped before this could run again.")
            pool.members.clear()
        if jobs := self._jobs():  # their terminal writes, before the store closes
            await asyncio.wait(jobs, timeout=5.0)

    def kill_all(self) -> None:
        """SIGKILL every model process now (a second SIGTERM); running predictions fail."""
        self.draining = True
        for member in self._members():
            member.instance.kill("the platform was told to stop at once")

    def _on_instances(self) -> bool:
        return any(r.instance is not None for r in self.running.values())

    def _members(self) -> list[Member]:
        return [m for pool in self.pools.values() for m in pool.members] + list(self._leaving)

    def _jobs(self) -> list[asyncio.Task[Any]]:
        return [t for t in self._tasks if not t.done() and t not in self._boots.values()]

    async def configure(self, queue: str) -> None:
        """(Re)load a queue's configuration: warm instances start, a changed version drains."""
        config = await self.sink.config_for(queue)
        pool = self.pools.get(queue)
        if pool is None:
            self.pools[queue] = Pool(queue, config)
        else:
            if config.replaces(pool.config):
                for member in pool.members:
                    if not member.draining:
                        logger.info("instance %s of %s drains (new release)", member.id, queue)
                        member.draining = True
            pool.config = config
            pool.retired = False
            pool.boot_failures, pool.retry_at = 0, 0.0
        self._wake.set()

    def retire(self, queue: str) -> None:
        """The queue is gone (a deleted deployment): its instances drain and stop."""
        pool = self.pools.get(queue)
        if pool is None:
            return
        pool.retired = True
        for member in pool.members:
            member.draining = True
        self._wake.set()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- reconciling -------------------------------------------------------------------------

    async def _reconcile(self) -> None:
        now = time.monotonic()
        for name in await self.queue.queues():
            if name not in self.pools and name not in self._loading:
                self._loading.add(name)
                self._spawn(self._load(name))
        for pool in list(self.pools.values()):
            await self._reconcile_pool(pool, now)
        if now >= self._health_at:
            self._health_at = now + HEALTH_EVERY
            self._check_health()

    async def _reconcile_pool(self, pool: Pool, now: float) -> None:
        for member in list(pool.members):
            if member.dead and member.in_flight == 0:
                self._stop(pool, member, "crashed")
        depth = await self._dispatch(pool) + len(pool.redeliveries)
        if not self._stopping and not self.draining and not pool.retired:
            oldest_wait = await self._oldest_wait(pool) if depth else 0.0
            # Queues with nothing waiting: their idle instances may make room (for GPUs, or
            # on a cluster worker at its capacity).
            evicting = pool.config.gpus or self.capacity is not None
            idle = await self._idle_queues() if depth and evicting else set()
            self._scale_up(pool, depth, now, oldest_wait, idle)
        self._scale_down(pool, depth, now)
        if (
            not pool.members
            and not depth
            and (pool.retired or pool.config.min_instances == 0)
            and not await self.queue.depth(pool.queue)
            and self.pools.get(pool.queue) is pool
        ):
            del self.pools[pool.queue]  # reloaded from the store when work comes again

    async def _dispatch(self, pool: Pool) -> int:
        """Lease waiting predictions onto free slots; returns how many still wait."""
        depth = await self.queue.depth(pool.queue)
        if self._stopping or self.draining:
            return depth
        for member in list(pool.members):
            while pool.redeliveries and member.free_slots:
                job, _ = pool.redeliveries.popleft()
                member.in_flight += 1
                member.last_used = time.monotonic()
                self._spawn(self._run_job(pool, member, job))
            while depth and member.free_slots and not member.stopping:
                member.in_flight += 1  # the slot is taken before the lease awaits
                item = await self.queue.lease(pool.queue, timeout=0)
                if item is None:
                    member.in_flight -= 1
                    return 0
                member.last_used = time.monotonic()
                self._spawn(self._start_job(pool, member, item))
                depth -= 1
        return depth

    async def _idle_queues(self) -> set[str]:
        """Queues of this scheduler's pools with nothing waiting (their instances may go)."""
        return {name for name in self.pools if not await self.queue.depth(name)}

    def _scale_up(
        self, pool: Pool, depth: int, now: float, oldest_wait: float, idle: set[str]
    ) -> None:
        config = pool.config
        active = pool.active
        booting = [m for m in active if m.booting]
        slots = config.spec.concurrency
        free = sum(m.free_slots for m in active) + slots * len(booting)
        wanted = 0
        if depth > free:
            wanted = math.ceil((depth - free) / slots)
        elif depth and not booting and oldest_wait > self.scale_up_wait:
            wanted = 1
        if depth or now >= pool.retry_at:
            wanted = max(wanted, config.min_instances - len(active))
        wanted = min(wanted, config.max_instances - len(active))
        if self.capacity is not None:  # a cluster worker runs at most this many instances
            room = self.capacity - len(self._members())
            if wanted > 0 and room <= 0 and not self._leaving:
                self._evict_idle(pool, idle)  # a full worker: an idle instance makes way
            wanted = min(wanted, room)
        if wanted > 0 and now < self._slot_retry.get(pool.queue, 0.0):
            return  # the cluster's other workers hold every slot; ask again shortly
        for _ in range(wanted):
            if not self._boot(pool, idle):
                break

    async def _oldest_wait(self, pool: Pool) -> float:
        return await self.queue.oldest_age(pool.queue, time.time())

    def _scale_down(self, pool: Pool, depth: int, now: float) -> None:
        active = pool.active
        # A lowered max_instances: the extra instances drain, idle ones first.
        over = len(active) - (0 if pool.retired else pool.config.max_instances)
        if over > 0:
            ranked = sorted(active, key=lambda m: (m.in_flight > 0, m.booting, m.last_used))
            for member in ranked[:over]:
                member.draining = True
            active = pool.active
        spare = len(active) - pool.floor
        if spare > 0 and not depth:
            idle = sorted(
                (m for m in active if m.ready and not m.in_flight), key=lambda m: m.last_used
            )
            for member in idle[:spare]:
                if now - member.last_used >= self.idle_timeout:
                    logger.info("instance %s of %s idle, stopping", member.id, pool.queue)
                    self._stop(pool, member, "idle")
        for member in list(pool.members):
            if member.draining and not member.in_flight and not member.booting:
                self._stop(pool, member, "drained")

    # -- instances ---------------------------------------------------------------------------

    async def _load(self, name: str) -> None:
        try:
            config = await self.sink.config_for(name)
        except Exception as exc:  # the version or deployment vanished: fail what waits
            self._loading.discard(name)
            detail = exc.detail if isinstance(exc, ModelyardError) else str(exc)
            logger.warning("queue %s cannot be started: %s", name, detail)
            await self._fail_waiting(name, f"The model could not be started: {detail}")
            return
        self._loading.discard(name)
        if name not in self.pools:
            self.pools[name] = Pool(name, config)
        self._wake.set()

    def _boot(self, pool: Pool, idle: set[str]) -> bool:
        """Start one instance of `pool`; False when it must wait for a GPU (an idle instance of
        a queue in `idle` may be evicted to make room)."""
        config = pool.config
        gpus: tuple[int, ...] = ()
        if config.gpus:
            if self.gpus.total(config.hardware) < config.gpus:
                if self.slots is None:  # one machine: it can never run here
                    self._spawn(self._unplaceable(pool))
                return False  # a cluster: a worker that has these GPUs takes the work
            taken = self.gpus.take(config.hardware, config.gpus)
            if taken is None:
                self._make_room(pool, idle)
                return False
            gpus = taken
        spec = dataclasses.replace(config.spec, gpu_devices=gpus or None)
        member = Member(self.make_instance(spec), pool.queue, config, gpus)
        member.instance.on_failure = self._wake.set  # a dead worker is replaced at once
        pool.members.append(member)
        self._boots[member] = self._spawn(self._start(pool, member))
        return True

    def _make_room(self, pool: Pool, idle: set[str]) -> None:
        """Evict the least recently used idle GPU instance of another queue, if there is one."""
        sku = pool.config.hardware
        if self._freeing[sku]:
            return  # an instance is already on its way out: its GPUs come back soon
        self._evict_idle(pool, idle, gpu_sku=sku)

    def _evict_idle(self, pool: Pool, idle: set[str], gpu_sku: str | None = None) -> None:
        """Stop the least recently used idle instance of another queue with nothing waiting
        (one holding `gpu_sku` GPUs, when given), unless its pool keeps it warm."""
        candidates = [
            (other, m)
            for other in self.pools.values()
            if other is not pool and other.queue in idle
            for m in other.members
            if m.ready and not m.in_flight and not other.protects(m)
            if gpu_sku is None or (m.gpus and m.config.hardware == gpu_sku)
        ]
        if not candidates:
            return
        other, victim = min(candidates, key=lambda pm: pm[1].last_used)
        logger.info("evicting idle instance %s of %s for %s", victim.id, other.queue, pool.queue)
        self._stop(other, victim, "evicted")

    async def _unplaceable(self, pool: Pool) -> None:
        config = pool.config
        await self._fail_waiting(
            pool.queue,
            f"This model needs {config.gpus} {config.hardware} GPU(s) per instance and this "
            f"installation has {self.gpus.total(config.hardware)}.",
        )

    async def _start(self, pool: Pool, member: Member) -> None:
        instance = member.instance
        if self.slots is not None and not await self._claim_slot(pool, member):
            return
        await self._record(snapshot(member, "booting"))
        try:
            await instance.start()
        except (InstanceError, asyncio.CancelledError) as exc:
            self._boots.pop(member, None)
            if member in pool.members:
                pool.members.remove(member)
            if member.gpus:
                self.gpus.give_back(member.gpus)
            await self._release_slot(member)
            detail = exc.detail if isinstance(exc, InstanceError) else "the platform stopped"
            logs = instance.setup_logs
            await self._record(
                snapshot(
                    member, "failed", stopped_at=datetime.now(UTC), error=detail, setup_logs=logs
                )
            )
            if isinstance(exc, asyncio.CancelledError):
                raise
            logger.warning("instance %s of %s failed to start: %s", member.id, pool.queue, detail)
            pool.boot_failures += 1
            pool.retry_at = time.monotonic() + min(MAX_BOOT_BACKOFF, 2.0**pool.boot_failures)
            if not any(m.ready or m.booting for m in pool.active):
                await self._fail_waiting(pool.queue, detail, logs)
                await self._fail_redeliveries(pool, detail)
            self._wake.set()
            return
        self._boots.pop(member, None)
        pool.boot_failures = 0
        member.last_used = time.monotonic()
        member.ready_seconds = round(time.monotonic() - member.created, 6)
        logger.info("instance %s of %s ready in %.2fs", member.id, pool.queue, member.ready_seconds)
        await self._dispatch(pool)  # the predictions waiting for this boot first, then bookkeeping
        self._wake.set()
        await self._record(snapshot(member, setup_logs=instance.setup_logs))
        if self.hooks is not None:
            await self._hook(self.hooks.on_instance_started(pool, instance, member.ready_seconds))

    def _stop(self, pool: Pool, member: Member, reason: str) -> None:
        """Take `member` out of service now and stop it in the background."""
        if member.stopping:
            return
        member.stopping = True
        member.stop_reason = reason
        if member in pool.members:
            pool.members.remove(member)
        self._leaving[member] = pool
        if member.gpus:
            self._freeing[member.config.hardware] += len(member.gpus)
        self._spawn(self._finish_stop(pool, member))

    async def _finish_stop(self, pool: Pool, member: Member) -> None:
        instance = member.instance
        error = instance.failure if instance.state == "failed" else None
        try:
            await instance.stop(grace=1.0)
        except Exception:
            logger.exception("stopping instance %s failed", member.id)
            instance.kill()
        finally:
            stopped_at = datetime.now(UTC)  # before its GPUs can go to another instance
            self._leaving.pop(member, None)
            if member.gpus:
                self._freeing[member.config.hardware] -= len(member.gpus)
                self.gpus.give_back(member.gpus)
            self._wake.set()
        state = "failed" if error else "stopped"
        await self._release_slot(member)
        await self._record(snapshot(member, state, stopped_at=stopped_at, error=error))
        if self.hooks is not None:
            lived = time.monotonic() - member.created
            await self._hook(self.hooks.on_instance_stopped(pool, instance, lived))

    async def _claim_slot(self, pool: Pool, member: Member) -> bool:
        """A slot below max_instances when work waits, else below min_instances (warm ones);
        without one the boot is dropped and asked again after SLOT_RETRY seconds."""
        assert self.slots is not None
        waiting = pool.redeliveries or await self.queue.depth(pool.queue)
        limit = pool.config.max_instances if waiting else pool.config.min_instances
        try:
            held = await self.slots.claim(pool.queue, limit, member.id)
        except Exception:
            logger.warning("no slot for %s: the database failed", pool.queue, exc_info=True)
            held = False
        if held:
            return True
        self._boots.pop(member, None)
        if member in pool.members:
            pool.members.remove(member)
        if member.gpus:
            self.gpus.give_back(member.gpus)
        self._slot_retry[pool.queue] = time.monotonic() + SLOT_RETRY
        return False

    async def _release_slot(self, member: Member) -> None:
        if self.slots is not None:
            await self._hook(self.slots.release(member.id))

    def _check_health(self) -> None:
        """Ask idle instances whether coglet still works (a dead worker leaves it UNHEALTHY)."""
        for pool in self.pools.values():
            for member in pool.members:
                if member.ready and not member.in_flight and not member.checking:
                    member.checking = True
                    self._spawn(self._health(member))

    async def _health(self, member: Member) -> None:
        try:
            if not await member.instance.healthy() and member.dead:
                self._wake.set()
        except Exception:
            logger.debug("health check of %s failed", member.id, exc_info=True)
        finally:
            member.checking = False

    async def _record(self, info: InstanceInfo) -> None:
        await self._hook(self.sink.instance_changed(info))

    @staticmethod
    async def _hook(call: Awaitable[None]) -> None:
        try:
            await call
        except Exception:  # bookkeeping must never take the scheduler down
            logger.exception("an instance hook failed")

    async def _fail_waiting(self, name: str, error: str, logs: str = "") -> None:
        while (item := await self.queue.lease(name, timeout=0)) is not None:
            await self.sink.abandoned(item.prediction_id, error, logs)
            await self._ack(item.prediction_id)

    async def _fail_redeliveries(self, pool: Pool, error: str) -> None:
        while pool.redeliveries:
            job, _ = pool.redeliveries.popleft()
            self.running.pop(job.prediction_id, None)
            await self.sink.abandoned(job.prediction_id, error)
            await self._ack(job.prediction_id)

    # -- jobs --------------------------------------------------------------------------------

    async def _start_job(self, pool: Pool, member: Member, item: QueueItem) -> None:
        try:
            job = await self.sink.prepare(item.prediction_id)
        except Exception as exc:
            logger.exception("prediction %s could not be prepared", item.prediction_id)
            job = None
            await self.sink.abandoned(item.prediction_id, f"The prediction could not start: {exc}")
        if job is None:
            member.in_flight -= 1
            self._wake.set()
            await self._ack(item.prediction_id)
            return
        await self._run_job(pool, member, job)

    async def _run_job(self, pool: Pool, member: Member, job: Job) -> None:
        pid = job.prediction_id
        instance = member.instance
        self.running[pid] = _Running(job, instance)
        done: Done | None = None
        started = reached = redelivered = False
        try:
            if job.delivery == 1 and not await self.sink.started(pid, instance.id):
                return  # canceled between lease and start
            if job.delivery > 1 and not await self.sink.redelivered(pid, instance.id):
                return  # canceled while it waited for another instance
            started = True
            async with asyncio.timeout(job.timeout or self.prediction_timeout):
                async for event in instance.predict(pid, job.input, context=job.context):
                    reached = True
                    if isinstance(event, Done):
                        # Report it now; the stream's end (which frees the slot) follows.
                        done = event
                        await self.sink.finished(pid, done)
                    else:
                        await self.sink.event(pid, event)
        except TimeoutError:
            if done is None:
                await instance.cancel(pid)
                limit = job.timeout or self.prediction_timeout
                await self.sink.abandoned(
                    pid, f"{job.kind.capitalize()} timed out after {limit:g} seconds."
                )
        except InstanceError as exc:  # it never reached the model: another instance may run it
            instance.kill(f"it could not take prediction {pid}: {exc.detail}")
            redelivered = not reached and self._redeliver(pool, job)
            if not redelivered:
                await self.sink.abandoned(pid, f"The model instance failed: {exc.detail}")
        except Exception as exc:  # a broken instance must never leave a prediction hanging
            logger.exception("prediction %s failed in the runtime", pid)
            if done is None:
                await self.sink.abandoned(pid, f"The model instance failed: {exc}")
            instance.kill()
        else:
            if started and done is None:
                await self.sink.abandoned(
                    pid, "The model instance ended the prediction without a result."
                )
        finally:
            member.in_flight = max(0, member.in_flight - 1)
            member.served += 1 if started else 0
            member.last_used = time.monotonic()
            self._wake.set()
            instance.forget_cancel(pid)
            if not redelivered:
                self.running.pop(pid, None)
                await self._ack(pid)

    async def _ack(self, prediction_id: str) -> None:
        """The prediction is done with here: its queue lease ends."""
        try:
            await self.queue.ack(prediction_id)
        except Exception:  # the lease then expires and the item is reclaimed, then refused
            logger.warning("could not ack prediction %s on the queue", prediction_id, exc_info=True)

    def _redeliver(self, pool: Pool, job: Job) -> bool:
        """Queue `job` for another instance of `pool`; False once its tries are used up."""
        if job.delivery >= MAX_DELIVERIES or self._stopping:
            return False
        logger.warning(
            "prediction %s never reached the model (try %d), trying another instance",
            job.prediction_id,
            job.delivery,
        )
        again = dataclasses.replace(job, delivery=job.delivery + 1)
        self.pools.setdefault(pool.queue, pool).redeliveries.append((again, time.monotonic()))
        self.running[job.prediction_id] = _Running(again, None)
        self._wake.set()
        return True

    # -- control -----------------------------------------------------------------------------

    async def cancel(self, prediction_id: str) -> None:
        running = self.running.get(prediction_id)
        if running is None:
            return
        if running.instance is not None:
            await running.instance.cancel(prediction_id)
            return
        for pool in self.pools.values():  # waiting for another instance: it ends here
            for entry in list(pool.redeliveries):
                if entry[0].prediction_id == prediction_id:
                    pool.redeliveries.remove(entry)
                    self.running.pop(prediction_id, None)
                    await self.sink.finished(prediction_id, Done(status="canceled"))
                    await self._ack(prediction_id)
                    return

    def forget(self, prediction_id: str) -> None:
        """A prediction ended before it ran; nothing to do for the runtime."""

    def instances(self) -> list[InstanceInfo]:
        """Every instance this scheduler runs, booting and stopping ones included."""
        members = [m for pool in self.pools.values() for m in pool.members]
        return [snapshot(m) for m in members + list(self._leaving)]

    def pool_config(self, queue: str) -> PoolConfig | None:
        pool = self.pools.get(queue)
        return pool.config if pool else None
