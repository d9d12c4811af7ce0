"""The webhook outbox and the record of delivery attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from modelyard.store.database import Conn
from modelyard.store.tables import webhook_attempts, webhook_deliveries


async def add_delivery(conn: Conn, **values: Any) -> int:
    result = await conn.execute(insert(webhook_deliveries).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def update_delivery(conn: Conn, delivery_id: int, **values: Any) -> None:
    await conn.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values)
    )


async def claim_delivery(conn: Conn, delivery_id: int, due: float, until: float) -> bool:
    """Take a due delivery for one attempt (its next attempt moves to `until`); False when
    another process took it first (several processes run outbox loops in cluster mode)."""
    result = await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.state == "pending",
            webhook_deliveries.c.next_attempt_at == due,
        )
        .values(next_attempt_at=until)
    )
    return bool(result.rowcount)


async def pending_deliveries(conn: Conn) -> list[dict[str, Any]]:
    stmt = (
        select(webhook_deliveries)
        .where(webhook_deliveries.c.state == "pending")
        .order_by(webhook_deliveries.c.next_attempt_at)
    )
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def record_attempt(
    conn: Conn,
    *,
    prediction_id: str,
    message_id: str,
    event: str,
    attempt: int,
    at: datetime,
    status_code: int | None,
    latency_ms: float | None,
    error: str | None,
) -> None:
    await conn.execute(
        insert(webhook_attempts).values(
            prediction_id=prediction_id,
            message_id=message_id,
            event=event,
            attempt=attempt,
            at=at,
            status_code=status_code,
            latency_ms=latency_ms,
            error=error,
        )
    )


async def list_attempts(conn: Conn, prediction_id: str) -> list[dict[str, Any]]:
    stmt = (
        select(webhook_attempts)
        .where(webhook_attempts.c.prediction_id == prediction_id)
        .order_by(webhook_attempts.c.id)
    )
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
