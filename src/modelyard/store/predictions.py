"""Predictions in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from modelyard.store.tables import predictions


async def create_prediction(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(predictions).values(**values))


async def find_prediction(conn: AsyncConnection, prediction_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(predictions).where(predictions.c.id == prediction_id))).first()
    return dict(row._mapping) if row else None


async def update_prediction(conn: AsyncConnection, prediction_id: str, **values: Any) -> None:
    await conn.execute(
        update(predictions).where(predictions.c.id == prediction_id).values(**values)
    )


async def update_if_status(
    conn: AsyncConnection, prediction_id: str, statuses: list[str], **values: Any
) -> bool:
    """Update only while the prediction is in one of `statuses`; True if a row changed."""
    result = await conn.execute(
        update(predictions)
        .where(predictions.c.id == prediction_id, predictions.c.status.in_(statuses))
        .values(**values)
    )
    return bool(result.rowcount)


async def list_predictions(
    conn: AsyncConnection,
    *,
    account_id: int,
    before: tuple[datetime, str] | None,
    limit: int,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    source: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first; `before` is the (created_at, id) keyset cursor of the previous page."""
    stmt = select(predictions).where(predictions.c.account_id == account_id)
    if before is not None:
        ts, pid = before
        stmt = stmt.where(
            or_(
                predictions.c.created_at < ts,
                and_(predictions.c.created_at == ts, predictions.c.id < pid),
            )
        )
    if created_after is not None:
        stmt = stmt.where(predictions.c.created_at > created_after)
    if created_before is not None:
        stmt = stmt.where(predictions.c.created_at < created_before)
    if source is not None:
        stmt = stmt.where(predictions.c.source == source)
    stmt = stmt.order_by(predictions.c.created_at.desc(), predictions.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def list_by_status(conn: AsyncConnection, statuses: list[str]) -> list[dict[str, Any]]:
    stmt = select(predictions).where(predictions.c.status.in_(statuses))
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
