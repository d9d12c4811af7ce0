"""The billing ledger and account credits in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from modelyard.store.database import Conn
from modelyard.store.tables import credits, ledger

_INSERT = insert(ledger)


async def add_entry(conn: Conn, **values: Any) -> None:
    """Record one charge (`kind`: prediction, setup or idle)."""
    await conn.execute(_INSERT, values)


async def list_entries(
    conn: Conn, *, account_ids: list[int], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Charges to these accounts with `start <= created_at < end`, oldest first."""
    query = (
        select(ledger)
        .where(
            ledger.c.account_id.in_(account_ids),
            ledger.c.created_at >= start,
            ledger.c.created_at < end,
        )
        .order_by(ledger.c.id)
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def total_charged(conn: Conn, account_id: int) -> float:
    query = select(func.coalesce(func.sum(ledger.c.usd), 0.0)).where(
        ledger.c.account_id == account_id
    )
    return float((await conn.execute(query)).scalar_one())


async def add_credit(
    conn: Conn, account_id: int, usd: float, note: str | None, when: datetime
) -> None:
    await conn.execute(
        insert(credits).values(account_id=account_id, usd=usd, note=note, created_at=when)
    )


async def total_credited(conn: Conn, account_id: int) -> float:
    query = select(func.coalesce(func.sum(credits.c.usd), 0.0)).where(
        credits.c.account_id == account_id
    )
    return float((await conn.execute(query)).scalar_one())
