"""The two cluster roles built from the platform's parts: `modelyard api` and `modelyard worker`.

`serve` runs everything in one process. In a cluster:

* an API replica answers every route, validates, persists and enqueues, serves SSE and
  `Prefer: wait` from the shared event bus and sends webhooks; it holds no model process. What
  the services ask of a runtime it forwards (`RemoteRuntime`): a cancel goes out on the bus to
  whichever worker runs the prediction, instance listings come from the database;
* a worker registers and heartbeats (`services/workers.py`), runs the scheduler on the queues
  it can place, follows deployment changes from the database, and cancels what it runs when
  asked on the bus;
* both are candidates for the leader (`services/leader.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

from modelyard.core.timeutil import utcnow
from modelyard.runtime.hardware import SKU_NAMES, HardwareSku, inventory
from modelyard.runtime.pools import InstanceInfo, PoolConfig
from modelyard.services.leader import release_worker
from modelyard.services.placement import deployment_queue
from modelyard.services.workers import Registration
from modelyard.store import Database
from modelyard.store import deployments as deployments_store
from modelyard.store import workers as workers_store

if TYPE_CHECKING:
    from modelyard.runtime.scheduler import Scheduler
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

WORKER_RESTARTED = (
    "The worker running this prediction restarted, so its result is unknown. Run it again."
)
HARDWARE_EVERY = 5.0  # seconds between an API replica's reads of the workers' hardware
DEPLOYMENTS_EVERY = 2.0  # seconds between a worker's reads of the deployments table


class RemoteRuntime:
    """What an API replica's services call in place of a scheduler: the workers run things."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def configure(self, queue: str) -> None:
        """Workers read deployment changes from the database (`WorkerLoops`)."""

    def retire(self, queue: str) -> None:
        """Workers see the deployment gone from the database."""

    async def cancel(self, prediction_id: str) -> None:
        await self.platform.bus.request_cancel(prediction_id)

    def forget(self, prediction_id: str) -> None:
        """Nothing of a prediction lives in an API replica."""

    def instances(self) -> list[InstanceInfo]:
        """None here: `services/instances.py` lists the workers' instances from the database."""
        return []

    def pool_config(self, queue: str) -> PoolConfig | None:
        return None


async def follow_worker_hardware(platform: Platform) -> None:
    """An API replica offers the hardware of the cluster's live workers (each GPU SKU with the
    most devices one worker has, since an instance's GPUs are on one machine), with what
    MODELYARD_HARDWARE declares; read every HARDWARE_EVERY seconds."""
    while True:
        try:
            async with platform.db.connect() as conn:
                rows = await workers_store.list_workers(conn)
            platform.offer_hardware(cluster_inventory(platform.settings.hardware, rows))
        except Exception:  # the database may be briefly away: the last offer stands
            logger.warning("reading the workers' hardware failed", exc_info=True)
        await asyncio.sleep(HARDWARE_EVERY)


def cluster_inventory(declared: str, workers: list[dict[str, Any]]) -> list[HardwareSku]:
    counts = {sku.sku: len(sku.gpu_indexes) for sku in inventory(declared) if sku.is_gpu}
    for worker in workers:
        if worker["state"] in ("active", "draining"):
            for entry in worker["hardware"]:
                if entry["sku"] != "cpu":
                    counts[entry["sku"]] = max(counts.get(entry["sku"], 0), entry["count"])
    return [HardwareSku("cpu", SKU_NAMES["cpu"])] + [
        HardwareSku(sku, SKU_NAMES.get(sku, sku), tuple(range(count)))
        for sku, count in sorted(counts.items())
        if count
    ]


class InstanceSlots:
    """A worker's claims on instance slots in the database (the scheduler's InstanceSlots):
    a queue's instances on all workers together stay within its bounds."""

    def __init__(self, db: Database, worker: str) -> None:
        self.db = db
        self.worker = worker

    async def claim(self, queue: str, limit: int, instance_id: str) -> bool:
        for _ in range(3):  # a lost race on one slot number: the next one may be free
            try:
                async with self.db.begin() as conn:
                    slot = await workers_store.claim_slot(
                        conn,
                        queue,
                        limit,
                        worker=self.worker,
                        instance_id=instance_id,
                        now=utcnow(),
                    )
                return slot is not None
            except workers_store.SlotTaken:
                continue
        return False

    async def release(self, instance_id: str) -> None:
        async with self.db.begin() as conn:
            await workers_store.release_slot(conn, instance_id)


class WorkerLoops:
    """A worker's background work besides the scheduler: heartbeats, deployments, cancels."""

    def __init__(self, platform: Platform, scheduler: Scheduler, name: str) -> None:
        self.platform = platform
        self.scheduler = scheduler
        scheduler.slots = InstanceSlots(platform.db, name)
        settings = platform.settings
        capacity = settings.worker_capacity or os.cpu_count() or 1
        scheduler.capacity = capacity  # instances on this worker at once
        self.registration = Registration(
            platform.db,
            name,
            platform.hardware(),
            capacity,
            interval=settings.heartbeat_interval,
            load=self._load,
        )
        self._releases: dict[str, int] = {}

    def _load(self) -> tuple[int, int]:
        return len(self.scheduler.running), len(self.scheduler.instances())

    async def start(self) -> list[asyncio.Task[Any]]:
        """Register (after closing what an earlier process of this name left), start loops."""
        await release_worker(self.platform, self.registration.name, WORKER_RESTARTED, "restarted")
        await self.registration.register()
        return [
            asyncio.ensure_future(self._beat_until_lost()),
            asyncio.ensure_future(self._follow_deployments()),
            asyncio.ensure_future(self._follow_cancels()),
        ]

    async def _beat_until_lost(self) -> None:
        """Heartbeat; once the cluster has declared this worker lost (it was silent too long),
        what it runs has already failed: kill the model processes and stop, so that a restart
        registers afresh instead of running work nobody will record."""
        await self.registration.run()
        logger.error("this worker was declared lost: stopping its instances and exiting")
        self.platform.kill_instances()
        os.kill(os.getpid(), signal.SIGTERM)

    async def _follow_deployments(self) -> None:
        while True:
            try:
                await self.sync_deployments()
            except Exception:
                logger.warning("reading deployments failed", exc_info=True)
            await asyncio.sleep(DEPLOYMENTS_EVERY)

    async def sync_deployments(self) -> None:
        """Configure the scheduler for new or changed deployments, retire deleted ones."""
        async with self.platform.db.connect() as conn:
            rows = await deployments_store.list_all_deployments(conn)
        current = {deployment_queue(r["id"]): r["current_release"] for r in rows}
        for queue, release in current.items():
            if self._releases.get(queue) != release:
                try:
                    await self.scheduler.configure(queue)
                except Exception as exc:  # a release whose version is gone: nothing to warm
                    logger.warning("deployment queue %s cannot be configured: %s", queue, exc)
        for queue in self._releases.keys() - current.keys():
            self.scheduler.retire(queue)
        self._releases = current

    async def _follow_cancels(self) -> None:
        async for prediction_id in self.platform.bus.cancel_requests():
            if prediction_id in self.scheduler.running:
                await self.scheduler.cancel(prediction_id)
