"""Uploaded files (`/v1/files`) in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select

from modelyard.store.database import Conn
from modelyard.store.tables import accounts, files


async def create_file(conn: Conn, **values: Any) -> None:
    await conn.execute(insert(files).values(**values))


async def find_file(conn: Conn, file_id: str) -> dict[str, Any] | None:
    """The file's row, with `owner`: the username of the account it belongs to."""
    stmt = (
        select(files, accounts.c.username.label("owner"))
        .join(accounts, accounts.c.id == files.c.account_id)
        .where(files.c.id == file_id)
    )
    row = (await conn.execute(stmt)).first()
    return dict(row._mapping) if row else None


async def delete_file(conn: Conn, file_id: str) -> None:
    await conn.execute(delete(files).where(files.c.id == file_id))


async def list_files(
    conn: Conn,
    *,
    account_id: int | None = None,
    account_ids: list[int] | None = None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first, of `account_id` (or any of `account_ids`)."""
    ids = account_ids if account_ids is not None else [account_id]
    stmt = select(files).where(files.c.account_id.in_(ids))
    if before is not None:
        ts, fid = before
        stmt = stmt.where(
            or_(files.c.created_at < ts, and_(files.c.created_at == ts, files.c.id < fid))
        )
    stmt = stmt.order_by(files.c.created_at.desc(), files.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
