"""Workers of a cluster: registration, heartbeats and the listing users see."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from modelyard.core.timeutil import isoformat, utcnow
from modelyard.runtime.hardware import HardwareSku
from modelyard.store import Database
from modelyard.store import workers as store

logger = logging.getLogger(__name__)


def default_name() -> str:
    """A worker's name when none is configured: the host name and the process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


def describe_hardware(skus: list[HardwareSku]) -> list[dict[str, Any]]:
    """What a worker offers, as stored and listed: one entry per SKU with its device count."""
    return [
        {"sku": sku.sku, "name": sku.name, "count": len(sku.gpu_indexes) if sku.is_gpu else 0}
        for sku in skus
    ]


class Registration:
    """One worker's row in the registry: written at start, refreshed by heartbeats."""

    def __init__(
        self,
        db: Database,
        name: str,
        hardware: list[HardwareSku],
        capacity: int,
        *,
        interval: float,
        load: Callable[[], tuple[int, int]],
    ) -> None:
        self.db = db
        self.name = name
        self.hardware = describe_hardware(hardware)
        self.capacity = capacity
        self.interval = interval
        self.load = load  # (predictions running, instances) now
        self.state = "active"
        self.lost = asyncio.Event()  # set when the leader declared this worker lost

    async def register(self) -> None:
        now = utcnow()
        async with self.db.begin() as conn:
            await store.save_worker(
                conn,
                name=self.name,
                hardware=self.hardware,
                cpus=os.cpu_count() or 1,
                capacity=self.capacity,
                load=0,
                instances=0,
                state="active",
                started_at=now,
                heartbeat_at=now,
                stopped_at=None,
            )
        logger.info("worker %s registered (capacity %d)", self.name, self.capacity)

    async def beat(self) -> bool:
        """One heartbeat; False once the leader declared this worker lost."""
        running, instances = self.load()
        async with self.db.begin() as conn:
            alive = await store.heartbeat(
                conn,
                self.name,
                heartbeat_at=utcnow(),
                load=running,
                instances=instances,
                state=self.state,
            )
        return alive

    async def run(self) -> None:
        """Heartbeat every `interval` seconds until cancelled or declared lost."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                if not await self.beat():
                    logger.error("worker %s was declared lost by the cluster", self.name)
                    self.lost.set()
                    return
            except Exception:  # the database may be briefly away; the next beat retries
                logger.warning("heartbeat of worker %s failed", self.name, exc_info=True)

    async def draining(self) -> None:
        self.state = "draining"
        await self.beat()

    async def stopped(self) -> None:
        async with self.db.begin() as conn:
            await store.heartbeat(
                conn, self.name, state="stopped", stopped_at=utcnow(), load=0, instances=0
            )


async def list_workers(db: Database) -> list[dict[str, Any]]:
    """Every worker ever registered, as `GET /v1/workers` returns them."""
    async with db.connect() as conn:
        rows = await store.list_workers(conn)
    return [render_worker(r) for r in rows]


def render_worker(row: dict[str, Any]) -> dict[str, Any]:
    beat = _aware(row["heartbeat_at"])
    return {
        "name": row["name"],
        "state": row["state"],
        "hardware": row["hardware"],
        "cpus": row["cpus"],
        "capacity": row["capacity"],
        "load": row["load"],
        "instances": row["instances"],
        "started_at": isoformat(_aware(row["started_at"])),
        "last_heartbeat_at": isoformat(beat),
        "seconds_since_heartbeat": round((datetime.now(UTC) - beat).total_seconds(), 3),
        "stopped_at": isoformat(_aware(row["stopped_at"])) if row["stopped_at"] else None,
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
