"""The record of model instances: one row per boot, updated as the instance lives and stops."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from modelyard.store.database import Conn
from modelyard.store.tables import instances


async def save_instance(conn: Conn, **values: Any) -> None:
    """Insert the row for `values["id"]`, or update it when it exists."""
    exists = (
        await conn.execute(select(instances.c.id).where(instances.c.id == values["id"]))
    ).first()
    if exists is None:
        await conn.execute(insert(instances).values(**values))
    else:
        changes = {k: v for k, v in values.items() if k != "id"}
        await conn.execute(update(instances).where(instances.c.id == values["id"]).values(changes))


async def find_instance(conn: Conn, instance_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(instances).where(instances.c.id == instance_id))).first()
    return dict(row._mapping) if row else None


async def list_instances(conn: Conn, *, limit: int) -> list[dict[str, Any]]:
    """The most recently started instances first."""
    query = select(instances).order_by(instances.c.started_at.desc()).limit(limit)
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def list_running_instances(conn: Conn) -> list[dict[str, Any]]:
    """Instances whose record is still open (booting or running somewhere), oldest first."""
    query = (
        select(instances).where(instances.c.stopped_at.is_(None)).order_by(instances.c.started_at)
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def close_unfinished(conn: Conn, when: Any) -> int:
    """Mark rows of instances a previous platform process left running as stopped."""
    result = await conn.execute(
        update(instances)
        .where(instances.c.stopped_at.is_(None))
        .values(state="stopped", stopped_at=when, stop_reason="platform restarted")
    )
    return int(result.rowcount or 0)


async def delete_stopped_before(conn: Conn, when: Any) -> int:
    """Forget the records of instances that stopped before `when`."""
    result = await conn.execute(delete(instances).where(instances.c.stopped_at < when))
    return int(result.rowcount or 0)
