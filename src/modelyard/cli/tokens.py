"""`modelyard tokens`: API tokens, made against the data directory without a running server."""

from __future__ import annotations

import asyncio

import typer

from modelyard.accounts import create_account, create_token, get_account
from modelyard.cli._client import fail
from modelyard.core.errors import ModelyardError, NotFound
from modelyard.settings import Settings
from modelyard.store import Database
from modelyard.store import accounts as accounts_store

app = typer.Typer(help="Create API tokens.", no_args_is_help=True)


@app.command("create")
def create(
    user: str = typer.Option(None, "--user", help="Account the token is for (default: the owner)."),
    name: str = typer.Option(None, "--name", help="A label for the token."),
) -> None:
    """Print a new API token, and nothing else."""
    settings = Settings()
    try:
        token = asyncio.run(_create(settings, user or settings.owner, name, user is None))
    except ModelyardError as exc:
        fail(exc.detail)
    print(token)


async def _create(settings: Settings, username: str, name: str | None, is_owner: bool) -> str:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    try:
        await db.migrate()
        async with db.begin() as conn:
            try:
                account = await get_account(conn, username)
            except NotFound:
                if not is_owner and await accounts_store.count_accounts(conn):
                    raise NotFound(
                        f"There is no account named '{username}'. Create it with "
                        f"`modelyard users create {username}`."
                    ) from None
                account = await create_account(conn, username)
            return await create_token(conn, account, name=name)
    finally:
        await db.close()
