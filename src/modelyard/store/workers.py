"""The cluster's workers and the instance slots they hold (cluster mode)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.store.database import Conn
from modelyard.store.tables import instance_slots, instances, predictions, workers


class SlotTaken(Exception):
    """Another worker claimed the same slot at the same moment; the transaction is void."""


async def save_worker(conn: Conn, **values: Any) -> None:
    """Insert the row of `values["name"]`, or replace it (a worker restarting under its name)."""
    exists = (
        await conn.execute(select(workers.c.name).where(workers.c.name == values["name"]))
    ).first()
    if exists is None:
        await conn.execute(insert(workers).values(**values))
    else:
        changes = {k: v for k, v in values.items() if k != "name"}
        await conn.execute(update(workers).where(workers.c.name == values["name"]).values(changes))


async def heartbeat(conn: Conn, name: str, **values: Any) -> bool:
    """Record a live worker's heartbeat; False when it was declared lost meanwhile."""
    result = await conn.execute(
        update(workers)
        .where(workers.c.name == name, workers.c.state.in_(("active", "draining")))
        .values(**values)
    )
    return bool(result.rowcount)


async def list_workers(conn: Conn) -> list[dict[str, Any]]:
    query = select(workers).order_by(workers.c.name)
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def find_worker(conn: Conn, name: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(workers).where(workers.c.name == name))).first()
    return dict(row._mapping) if row else None


async def mark_lost(conn: Conn, silent_since: datetime, now: datetime) -> list[str]:
    """Declare lost every live worker whose last heartbeat is older than `silent_since`."""
    stale = and_(workers.c.state.in_(("active", "draining")), workers.c.heartbeat_at < silent_since)
    names = [r.name for r in (await conn.execute(select(workers.c.name).where(stale))).all()]
    if names:
        await conn.execute(
            update(workers)
            .where(stale, workers.c.name.in_(names))
            .values(state="lost", stopped_at=now)
        )
    return names


async def running_on(conn: Conn, worker: str, status: str) -> list[dict[str, Any]]:
    """Predictions in `status` that `worker` took."""
    query = select(predictions).where(
        predictions.c.worker == worker, predictions.c.status == status
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def close_instances_of(conn: Conn, worker: str, when: datetime, reason: str) -> int:
    """Close the records of a worker's instances that never recorded their end."""
    result = await conn.execute(
        update(instances)
        .where(instances.c.worker == worker, instances.c.stopped_at.is_(None))
        .values(state="stopped", stopped_at=when, stop_reason=reason)
    )
    return int(result.rowcount or 0)


# -- instance slots ------------------------------------------------------------------------------


async def claim_slot(
    conn: Conn, queue: str, limit: int, *, worker: str, instance_id: str, now: datetime
) -> int | None:
    """Take the lowest free slot below `limit` of `queue`; None when all are held.

    The (queue, slot) primary key makes a race lose: run this in a transaction of its own and
    take SlotTaken as "try again".
    """
    held = {
        r.slot
        for r in (
            await conn.execute(select(instance_slots.c.slot).where(instance_slots.c.queue == queue))
        ).all()
    }
    free = next((n for n in range(limit) if n not in held), None)
    if free is None:
        return None
    try:
        await conn.execute(
            insert(instance_slots).values(
                queue=queue, slot=free, worker=worker, instance_id=instance_id, claimed_at=now
            )
        )
    except IntegrityError as exc:
        raise SlotTaken(queue) from exc
    return free


async def release_slot(conn: Conn, instance_id: str) -> None:
    await conn.execute(delete(instance_slots).where(instance_slots.c.instance_id == instance_id))


async def release_slots_of(conn: Conn, worker: str) -> int:
    result = await conn.execute(delete(instance_slots).where(instance_slots.c.worker == worker))
    return int(result.rowcount or 0)


async def count_slots(conn: Conn, queue: str) -> int:
    query = select(func.count()).select_from(instance_slots).where(instance_slots.c.queue == queue)
    return int((await conn.execute(query)).scalar_one())


async def end_running_on(conn: Conn, worker: str, prediction_id: str, **values: Any) -> bool:
    """The terminal write of a prediction `worker` was running, only while it still is."""
    result = await conn.execute(
        update(predictions)
        .where(
            predictions.c.id == prediction_id,
            predictions.c.status == "processing",
            predictions.c.worker == worker,
        )
        .values(**values)
    )
    return bool(result.rowcount)


async def list_starting_before(conn: Conn, when: datetime, limit: int) -> list[dict[str, Any]]:
    """Predictions still waiting (`starting`) that were accepted before `when`, oldest first."""
    query = (
        select(predictions)
        .where(predictions.c.status == "starting", predictions.c.created_at < when)
        .order_by(predictions.c.created_at)
        .limit(limit)
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]
