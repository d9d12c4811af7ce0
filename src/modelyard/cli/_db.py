"""Admin commands run against the configured database directly, without a running server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from modelyard.cli._client import fail
from modelyard.core.errors import ModelyardError
from modelyard.settings import Settings
from modelyard.store import Conn, Database

T = TypeVar("T")


def in_transaction(work: Callable[[Conn, Settings], Awaitable[T]]) -> T:
    """Run `work` in one transaction on the configured database (migrated first).

    A ModelyardError ends the command with its detail and exit code 1.
    """
    try:
        settings = Settings()
    except ValueError as exc:
        fail(str(exc), code=2)
    try:
        return asyncio.run(_run(settings, work))
    except ModelyardError as exc:
        fail(exc.detail)


async def _run(settings: Settings, work: Callable[[Conn, Settings], Awaitable[T]]) -> T:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    try:
        await db.migrate()
        async with db.begin() as conn:
            return await work(conn, settings)
    finally:
        await db.close()
