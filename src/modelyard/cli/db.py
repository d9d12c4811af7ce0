"""`modelyard db upgrade`: bring the configured database to the newest schema (Alembic)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from modelyard.cli._client import fail
from modelyard.settings import Settings
from modelyard.store import Database

app = typer.Typer(help="The database: schema migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Run the Alembic migrations on MODELYARD_DATABASE_URL (or the embedded SQLite file).

    Safe to run again, and from several processes: what is applied is skipped. In a cluster,
    run it once per release before starting `modelyard api` and `modelyard worker`.
    """
    try:
        settings = Settings()
    except ValueError as exc:
        fail(str(exc), code=2)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_upgrade(settings))
    Console().print("the database schema is up to date")


async def _upgrade(settings: Settings) -> None:
    db = Database(settings.db_url)
    try:
        await db.migrate()
    finally:
        await db.close()
