"""Models and their versions in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from modelyard.store.database import Conn
from modelyard.store.tables import models, predictions, versions


def _row(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


async def create_model(conn: Conn, **values: Any) -> dict[str, Any]:
    result = await conn.execute(insert(models).values(**values))
    row = await find_model_by_id(conn, result.inserted_primary_key[0])  # type: ignore[index]
    assert row is not None
    return row


async def find_model(conn: Conn, owner: str, name: str) -> dict[str, Any] | None:
    query = select(models).where(models.c.owner == owner, models.c.name == name)
    return _row((await conn.execute(query)).first())


async def find_model_by_id(conn: Conn, model_id: int) -> dict[str, Any] | None:
    return _row((await conn.execute(select(models).where(models.c.id == model_id))).first())


async def update_model(conn: Conn, model_id: int, **values: Any) -> None:
    await conn.execute(update(models).where(models.c.id == model_id).values(**values))


async def delete_model(conn: Conn, model_id: int) -> None:
    await conn.execute(delete(models).where(models.c.id == model_id))


async def list_models(
    conn: Conn,
    *,
    visible_to: list[str],
    after_id: int | None,
    limit: int,
    query: str | None = None,
) -> list[dict[str, Any]]:
    """Public models and the ones owned by `visible_to`, newest first, keyset-paginated."""
    stmt = select(models).where(
        or_(models.c.visibility == "public", models.c.owner.in_(visible_to))
    )
    if after_id is not None:
        stmt = stmt.where(models.c.id < after_id)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(models.c.name).like(like),
                func.lower(models.c.owner).like(like),
                func.lower(func.coalesce(models.c.description, "")).like(like),
            )
        )
    stmt = stmt.order_by(models.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def create_version(conn: Conn, **values: Any) -> dict[str, Any]:
    result = await conn.execute(insert(versions).values(**values))
    row = await find_version_by_pk(conn, result.inserted_primary_key[0])  # type: ignore[index]
    assert row is not None
    return row


async def update_version(conn: Conn, pk: int, **values: Any) -> None:
    await conn.execute(update(versions).where(versions.c.pk == pk).values(**values))


async def find_version(conn: Conn, model_id: int, version_id: str) -> dict[str, Any] | None:
    query = select(versions).where(versions.c.model_id == model_id, versions.c.id == version_id)
    return _row((await conn.execute(query)).first())


async def find_version_by_pk(conn: Conn, pk: int) -> dict[str, Any] | None:
    return _row((await conn.execute(select(versions).where(versions.c.pk == pk))).first())


async def find_versions_by_id(conn: Conn, version_id: str) -> list[dict[str, Any]]:
    """Every (model, version) pair with this id, each joined with its model's owner and name."""
    query = (
        select(versions, models.c.owner, models.c.name, models.c.visibility)
        .join(models, models.c.id == versions.c.model_id)
        .where(versions.c.id == version_id)
        .order_by(versions.c.pk.desc())
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def list_versions(
    conn: Conn,
    model_id: int,
    *,
    status: str | None = "ready",
    after_pk: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    stmt = select(versions).where(versions.c.model_id == model_id)
    if status:
        stmt = stmt.where(versions.c.status == status)
    if after_pk is not None:
        stmt = stmt.where(versions.c.pk < after_pk)
    stmt = stmt.order_by(versions.c.pk.desc()).limit(limit)
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def delete_version(conn: Conn, pk: int) -> None:
    await conn.execute(delete(versions).where(versions.c.pk == pk))


async def count_version_predictions(conn: Conn, version_pk: int) -> int:
    query = (
        select(func.count()).select_from(predictions).where(predictions.c.version_pk == version_pk)
    )
    return int((await conn.execute(query)).scalar_one())


async def count_model_predictions(conn: Conn, model_id: int) -> int:
    query = select(func.count()).select_from(predictions).where(predictions.c.model_id == model_id)
    return int((await conn.execute(query)).scalar_one())


async def list_latest_versions(conn: Conn, *, visible_to: list[str]) -> list[dict[str, Any]]:
    """Each model visible to `visible_to` with its ready latest version, by owner and name."""
    stmt = (
        select(
            models.c.owner,
            models.c.name,
            models.c.created_at,
            versions.c.pk,
            versions.c.config,
            versions.c.openapi_schema,
        )
        .join(
            versions,
            (versions.c.model_id == models.c.id) & (versions.c.id == models.c.latest_version_id),
        )
        .where(
            or_(models.c.visibility == "public", models.c.owner.in_(visible_to)),
            versions.c.status == "ready",
        )
        .order_by(models.c.owner, models.c.name)
    )
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def list_building_versions(conn: Conn) -> list[dict[str, Any]]:
    """Versions whose build is recorded as in flight, each with its model's owner and name."""
    query = (
        select(versions, models.c.owner, models.c.name)
        .join(models, models.c.id == versions.c.model_id)
        .where(versions.c.status == "building")
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]
