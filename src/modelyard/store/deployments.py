"""Deployments and their releases in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update

from modelyard.store.database import Conn
from modelyard.store.tables import accounts, deployment_releases, deployments


def _row(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


async def create_deployment(conn: Conn, **values: Any) -> dict[str, Any]:
    result = await conn.execute(insert(deployments).values(**values))
    return {"id": result.inserted_primary_key[0], **values}  # type: ignore[index]


async def find_deployment(conn: Conn, owner: str, name: str) -> dict[str, Any] | None:
    query = select(deployments).where(deployments.c.owner == owner, deployments.c.name == name)
    return _row((await conn.execute(query)).first())


async def find_deployment_by_id(conn: Conn, deployment_id: int) -> dict[str, Any] | None:
    query = select(deployments).where(deployments.c.id == deployment_id)
    return _row((await conn.execute(query)).first())


async def list_deployments(
    conn: Conn, *, owners: list[str], before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Deployments of `owners`, newest first, keyset-paginated by id."""
    query = select(deployments).where(deployments.c.owner.in_(owners))
    if before_id is not None:
        query = query.where(deployments.c.id < before_id)
    query = query.order_by(deployments.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def list_all_deployments(conn: Conn) -> list[dict[str, Any]]:
    query = select(deployments).order_by(deployments.c.id)
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def set_current_release(conn: Conn, deployment_id: int, number: int) -> None:
    await conn.execute(
        update(deployments).where(deployments.c.id == deployment_id).values(current_release=number)
    )


async def delete_deployment(conn: Conn, deployment_id: int) -> None:
    await conn.execute(delete(deployments).where(deployments.c.id == deployment_id))


async def create_release(conn: Conn, **values: Any) -> dict[str, Any]:
    result = await conn.execute(insert(deployment_releases).values(**values))
    return {"id": result.inserted_primary_key[0], **values}  # type: ignore[index]


async def find_release(conn: Conn, deployment_id: int, number: int) -> dict[str, Any] | None:
    """A release joined with its creator's username, name and type (None if gone)."""
    query = (
        select(
            deployment_releases,
            accounts.c.username.label("creator_username"),
            accounts.c.name.label("creator_name"),
            accounts.c.type.label("creator_type"),
        )
        .outerjoin(accounts, accounts.c.id == deployment_releases.c.created_by_id)
        .where(
            deployment_releases.c.deployment_id == deployment_id,
            deployment_releases.c.number == number,
        )
    )
    return _row((await conn.execute(query)).first())


async def list_releases(conn: Conn, deployment_id: int) -> list[dict[str, Any]]:
    query = (
        select(deployment_releases)
        .where(deployment_releases.c.deployment_id == deployment_id)
        .order_by(deployment_releases.c.number)
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def count_releases_of_version(conn: Conn, version_pk: int) -> int:
    """Deployments whose current release runs the version with this pk."""
    query = (
        select(deployments.c.id)
        .join(
            deployment_releases,
            (deployment_releases.c.deployment_id == deployments.c.id)
            & (deployment_releases.c.number == deployments.c.current_release),
        )
        .where(deployment_releases.c.version_pk == version_pk)
    )
    return len((await conn.execute(query)).all())


async def account_usage(
    conn: Conn, account_id: int, *, excluding: int | None = None
) -> tuple[int, int]:
    """(deployments, sum of their current min_instances) of an account, leaving one out."""
    query = (
        select(
            func.count().label("count"),
            func.coalesce(func.sum(deployment_releases.c.min_instances), 0).label("warm"),
        )
        .select_from(deployments)
        .join(
            deployment_releases,
            (deployment_releases.c.deployment_id == deployments.c.id)
            & (deployment_releases.c.number == deployments.c.current_release),
        )
        .where(deployments.c.account_id == account_id)
    )
    if excluding is not None:
        query = query.where(deployments.c.id != excluding)
    row = (await conn.execute(query)).one()._mapping
    return int(row["count"]), int(row["warm"])
