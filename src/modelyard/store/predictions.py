"""Predictions in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, and_, bindparam, insert, or_, select, update

from modelyard.store.database import Conn
from modelyard.store.tables import predictions

# The hot path's statements are built once per shape with explicit bind parameters, so a call
# costs a dictionary lookup instead of building and coercing a new statement.
_FIND = select(predictions).where(predictions.c.id == bindparam("_id"))
_STATEMENTS: dict[tuple[str, frozenset[str]], Any] = {}


def _statement(kind: str, keys: frozenset[str]) -> Any:
    stmt = _STATEMENTS.get((kind, keys))
    if stmt is None:
        values: dict[str, BindParameter[Any]] = {k: bindparam(k) for k in keys}
        if kind == "insert":
            stmt = insert(predictions).values(values)
        else:
            stmt = update(predictions).where(predictions.c.id == bindparam("_id")).values(values)
            if kind == "update_if":
                stmt = stmt.where(predictions.c.status == bindparam("_status"))
        _STATEMENTS[(kind, keys)] = stmt
    return stmt


async def create_prediction(conn: Conn, **values: Any) -> None:
    await conn.execute(_statement("insert", frozenset(values)), values)


async def find_prediction(conn: Conn, prediction_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(_FIND, {"_id": prediction_id})).first()
    return dict(row._mapping) if row else None


async def update_prediction(conn: Conn, prediction_id: str, **values: Any) -> None:
    await conn.execute(_statement("update", frozenset(values)), {**values, "_id": prediction_id})


async def update_if_status(conn: Conn, prediction_id: str, expected: str, **values: Any) -> bool:
    """Update only while the prediction's status is `expected`; True if a row changed."""
    params = {**values, "_id": prediction_id, "_status": expected}
    result = await conn.execute(_statement("update_if", frozenset(values)), params)
    return bool(result.rowcount)


async def list_predictions(
    conn: Conn,
    *,
    account_id: int | None = None,
    account_ids: list[int] | None = None,
    before: tuple[datetime, str] | None,
    limit: int,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    source: str | None = None,
    kind: str | None = "prediction",  # or "training": trainings are listed apart
    model: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first, of `account_id` (or any of `account_ids`); `before` is the (created_at, id)
    keyset cursor of the previous page."""
    ids = account_ids if account_ids is not None else [account_id]
    stmt = select(predictions).where(predictions.c.account_id.in_(ids))
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
    if kind is not None:
        stmt = stmt.where(predictions.c.kind == kind)
    if model is not None:
        stmt = stmt.where(predictions.c.model == model)
    if status is not None:
        stmt = stmt.where(predictions.c.status == status)
    stmt = stmt.order_by(predictions.c.created_at.desc(), predictions.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def list_by_status(conn: Conn, statuses: list[str]) -> list[dict[str, Any]]:
    stmt = select(predictions).where(predictions.c.status.in_(statuses))
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def list_expired(conn: Conn, *, completed_before: datetime, limit: int) -> list[str]:
    """Ids of finished API (and OpenAI-endpoint) predictions completed before the cutoff whose
    data is still kept."""
    stmt = (
        select(predictions.c.id)
        .where(
            predictions.c.completed_at < completed_before,
            predictions.c.source.in_(("api", "openai")),
            predictions.c.data_removed.is_(False),
        )
        .order_by(predictions.c.completed_at)
        .limit(limit)
    )
    return [r[0] for r in (await conn.execute(stmt)).all()]


async def remove_data(conn: Conn, prediction_ids: list[str]) -> None:
    """Blank the input, output and logs of these predictions and mark them `data_removed`."""
    await conn.execute(
        update(predictions)
        .where(predictions.c.id.in_(prediction_ids))
        .values(input={}, output=None, logs="", secret_input=None, data_removed=True)
    )


async def list_starting_of_version(conn: Conn, version_pk: int) -> list[str]:
    """Ids of the version's predictions still `starting`, oldest first."""
    stmt = (
        select(predictions.c.id)
        .where(predictions.c.version_pk == version_pk, predictions.c.status == "starting")
        .order_by(predictions.c.created_at)
    )
    return [r[0] for r in (await conn.execute(stmt)).all()]


async def update_starting_logs(conn: Conn, version_pk: int, logs: str) -> None:
    """Set the logs of the version's `starting` predictions (a build's progress)."""
    stmt = (
        update(predictions)
        .where(predictions.c.version_pk == version_pk, predictions.c.status == "starting")
        .values(logs=logs)
    )
    await conn.execute(stmt)
