"""The cluster's leader: one process at a time, elected through a PostgreSQL advisory lock.

Every `modelyard api` and `modelyard worker` process is a candidate. The lock belongs to a
database session, so when the leader's process dies its connection closes, the lock is free
and another candidate takes it within one tick. The leader:

* declares lost the workers whose heartbeats stopped (`worker_lost_after` seconds): what they
  were running ends `failed` saying so, their instance slots and records are released, and
  what they had leased but not started goes back to the queue for another worker;
* re-enqueues predictions Postgres holds as `starting` that the queue does not (an API replica
  killed between the insert and the enqueue, a Redis that restarted empty).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from modelyard.core.states import Status
from modelyard.core.timeutil import utcnow
from modelyard.services.predictions import finish_running_after_crash, requeue
from modelyard.store import accounts as accounts_store
from modelyard.store import models as models_store
from modelyard.store import workers as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

LOCK_KEY = 0x6D7964  # "myd": one advisory lock per database
RECONCILE_BATCH = 500
WORKER_LOST = (
    "The worker running this prediction was lost (it stopped sending heartbeats), so its "
    "result is unknown. Run it again."
)


class Leader:
    """Campaigns for the lock and, while it holds it, runs the cluster's duties every tick."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        settings = platform.settings
        self.tick = max(0.2, min(settings.heartbeat_interval, settings.worker_lost_after / 3))
        self.is_leader = False

    async def run(self) -> None:
        while True:
            try:
                await self._campaign()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: campaign again once it is back
                logger.warning("leader election failed; retrying", exc_info=True)
            self.is_leader = False
            await asyncio.sleep(self.tick)

    async def _campaign(self) -> None:
        async with self.platform.db.connect() as session:
            conn = cast(AsyncConnection, session)  # Postgres: the lock lives with this session
            while True:
                won = (
                    await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
                ).scalar_one()
                await conn.commit()
                if won:
                    break
                await asyncio.sleep(self.tick)
            self.is_leader = True
            logger.info("this process leads the cluster")
            while True:
                await self.duties()
                await asyncio.sleep(self.tick)
                await conn.execute(text("SELECT 1"))  # the session (and so the lock) lives
                await conn.commit()

    async def duties(self) -> None:
        """One round of the leader's work; each part on its own so one failure stops no other."""
        for duty in (self.find_lost_workers, self.reconcile):
            try:
                await duty()
            except Exception:
                logger.exception("leader duty %s failed", duty.__name__)

    async def find_lost_workers(self) -> None:
        now = utcnow()
        silent_since = now - timedelta(seconds=self.platform.settings.worker_lost_after)
        async with self.platform.db.begin() as conn:
            lost = await store.mark_lost(conn, silent_since, now)
        for name in lost:
            logger.warning("worker %s is lost: no heartbeat since %s", name, silent_since)
            await release_worker(self.platform, name, WORKER_LOST, "worker lost")
            back = await self.platform.queue.reclaim_from(name)  # leased, never started
            if back:
                logger.warning("%d predictions leased by %s go back to the queue", len(back), name)

    async def reconcile(self) -> None:
        """Enqueue again every `starting` prediction older than `reconcile_after` (idempotent)."""
        settings = self.platform.settings
        before = utcnow() - timedelta(seconds=settings.reconcile_after)
        async with self.platform.db.connect() as conn:
            rows = await store.list_starting_before(conn, before, RECONCILE_BATCH)
            owners = await _owners(conn, {r["account_id"] for r in rows})
            ready = await _ready(conn, {r["version_pk"] for r in rows})
        for row in rows:
            if row["version_pk"] in ready:  # one waiting on a build is queued by its builder
                await requeue(self.platform, row, owners.get(row["account_id"], ""))


async def _ready(conn: Any, version_pks: set[int]) -> set[int]:
    found = {pk: await models_store.find_version_by_pk(conn, pk) for pk in version_pks}
    return {pk for pk, version in found.items() if version and version["status"] == "ready"}


async def _owners(conn: Any, account_ids: set[int]) -> dict[int, str]:
    found = {}
    for account_id in account_ids:
        account = await accounts_store.find_account_by_id(conn, account_id)
        if account is not None:
            found[account_id] = account["username"]
    return found


async def release_worker(platform: Platform, name: str, error: str, reason: str) -> None:
    """What worker `name` held ends: running predictions fail with `error`, its instance
    slots are freed and its instance records closed with `reason`."""
    async with platform.db.connect() as conn:
        rows = await store.running_on(conn, name, Status.PROCESSING.value)
    for row in rows:
        await finish_running_after_crash(platform, row, error, worker=name)
    async with platform.db.begin() as conn:
        await store.release_slots_of(conn, name)
        await store.close_instances_of(conn, name, utcnow(), reason)
