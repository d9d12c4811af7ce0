"""PostgreSQL's pooled connections: pinged only after resting, and replaced when cut meanwhile."""

from __future__ import annotations

import secrets

import asyncpg
import pytest
from sqlalchemy import text

from modelyard.store import Database, database

POSTGRES = "postgresql://127.0.0.1:5432/test"


async def _backend_pid(db: Database) -> int:
    async with db.begin() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_rested_connection_cut_by_the_server_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"modelyard_pool_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"postgresql://127.0.0.1:5432/{name}")
    try:
        first = await _backend_pid(db)
        assert await _backend_pid(db) == first  # reused at once, without a ping in between
        # The server ends that session while it rests in the pool (a restart, an idle cut).
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)
        replaced = await _backend_pid(db)  # the ping finds it dead: a new connection serves
        assert replaced != first
    finally:
        await db.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
