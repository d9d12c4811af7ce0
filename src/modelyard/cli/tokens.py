"""`modelyard tokens`: API tokens, managed against the data directory without a running server."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from modelyard.accounts import (
    Account,
    create_account,
    create_token,
    find_token,
    get_account,
    list_tokens,
    revoke_token,
)
from modelyard.cli._db import in_transaction
from modelyard.core.errors import NotFound
from modelyard.core.timeutil import isoformat
from modelyard.settings import Settings
from modelyard.store import Conn
from modelyard.store import accounts as accounts_store

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
out = Console(soft_wrap=True)


@app.command("create")
def create(
    user: str = typer.Option(
        None, "--user", help="Account (user or organization) the token is for [default: owner]."
    ),
    name: str = typer.Option(None, "--name", help="A label for the token."),
) -> None:
    """Print a new API token, and nothing else."""

    async def work(conn: Conn, settings: Settings) -> str:
        username = user or settings.owner
        try:
            account = await get_account(conn, username)
        except NotFound:
            if user is not None and await accounts_store.count_accounts(conn):
                raise NotFound(
                    f"There is no account named '{username}'. Create it with "
                    f"`modelyard users create {username}`."
                ) from None
            account = await create_account(conn, username)
        return await create_token(
            conn, account, name=name, max_active=settings.max_tokens_per_account
        )

    print(in_transaction(work))


@app.command("list")
def list_(
    user: str = typer.Option(None, "--user", help="Whose tokens [default: the owner]."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List an account's tokens: id, label, prefix, created, last used (never the tokens)."""

    async def work(conn: Conn, settings: Settings) -> tuple[Account, list]:  # type: ignore[type-arg]
        account = await get_account(conn, user or settings.owner)
        return account, await list_tokens(conn, account)

    account, tokens = in_transaction(work)
    rows = [
        {
            "id": t.id,
            "account": account.username,
            "name": t.name,
            "prefix": t.prefix,
            "created_at": isoformat(t.created_at),
            "last_used_at": isoformat(t.last_used_at),
            "revoked_at": isoformat(t.revoked_at),
        }
        for t in tokens
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"API tokens of {account.username}")
    for column in ("id", "label", "prefix", "created", "last used", "revoked"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"] or "",
            r["prefix"] + "…",
            r["created_at"] or "",
            r["last_used_at"] or "never",
            r["revoked_at"] or "",
        )
    out.print(table)


@app.command("revoke")
def revoke(id_or_token: str = typer.Argument(..., help="The token's id, or the token.")) -> None:
    """Revoke a token for good (a running server stops accepting it within seconds)."""

    async def work(conn: Conn, _settings: Settings) -> tuple[int, bool]:
        token = await find_token(conn, id_or_token)
        return token.id, await revoke_token(conn, token)

    token_id, changed = in_transaction(work)
    out.print(f"Revoked token {token_id}." if changed else f"Token {token_id} was already revoked.")
