"""`modelyard users` and `modelyard orgs`: accounts, against the configured database."""

from __future__ import annotations

import typer
from rich.console import Console

from modelyard.accounts import (
    add_member,
    create_account,
    create_organization,
    list_members,
    set_password,
)
from modelyard.cli._db import in_transaction
from modelyard.settings import Settings
from modelyard.store import Conn

users = typer.Typer(help="Create user accounts.", no_args_is_help=True)
orgs = typer.Typer(help="Create organizations and add members.", no_args_is_help=True)
out = Console(soft_wrap=True)


@users.command("create")
def create_user(
    name: str = typer.Argument(..., help="Username: lowercase letters, digits, '-' or '_'."),
    password: bool = typer.Option(
        False, "--password", help="Ask for a password (for the web playground)."
    ),
    display_name: str = typer.Option(None, "--display-name", help="A full name."),
) -> None:
    """Create a user; give it a token with `modelyard tokens create --user NAME`."""
    secret = None
    if password:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(conn: Conn, _settings: Settings) -> None:
        await create_account(conn, name, name=display_name, password=secret)

    in_transaction(work)
    out.print(f"Created user [bold]{name}[/].", highlight=False)


@users.command("set-password")
def set_user_password(
    name: str = typer.Argument(..., help="Username."),
) -> None:
    """Set a user's password for the web app (asked twice); its signed-in sessions end."""
    secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(conn: Conn, _settings: Settings) -> None:
        await set_password(conn, name, secret)

    in_transaction(work)
    out.print(f"Set the password of [bold]{name}[/].", highlight=False)


@orgs.command("create")
def create_org(
    name: str = typer.Argument(..., help="Organization name."),
    members: list[str] = typer.Option([], "--member", help="A user to add (repeatable)."),
    display_name: str = typer.Option(None, "--display-name", help="A full name."),
) -> None:
    """Create an organization; its members act for it (its models, predictions and files)."""

    async def work(conn: Conn, _settings: Settings) -> list[str]:
        await create_organization(conn, name, members=members, display_name=display_name)
        return await list_members(conn, name)

    names = in_transaction(work)
    listed = ", ".join(names) if names else "no members yet"
    out.print(f"Created organization [bold]{name}[/] ({listed}).", highlight=False)


@orgs.command("add-member")
def add_org_member(
    org: str = typer.Argument(..., help="Organization name."),
    user: str = typer.Argument(..., help="Username to add."),
) -> None:
    """Add a user to an organization."""

    async def work(conn: Conn, _settings: Settings) -> bool:
        return await add_member(conn, org, user)

    added = in_transaction(work)
    message = "is now a member of" if added else "already was a member of"
    out.print(f"{user} {message} {org}.", highlight=False)
