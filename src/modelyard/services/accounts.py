"""Account use cases for the API: tokens, users, organizations and their members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from modelyard import accounts
from modelyard.accounts import Account, TokenInfo
from modelyard.core.errors import NotFound
from modelyard.core.timeutil import isoformat

if TYPE_CHECKING:
    from modelyard.services.platform import Platform


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    account: str | None = None  # an organization the caller belongs to (default: the caller)


class CreateUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str
    name: str | None = None
    password: str | None = None


class CreateOrganization(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str
    name: str | None = None
    members: list[str] = []


class AddMember(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str


def is_admin(platform: Platform, account: Account) -> bool:
    """The owner account (`--owner`, made on first start) administers the others."""
    return account.username == platform.settings.owner


def require_admin(platform: Platform, account: Account) -> None:
    # Answered as missing, like every resource the caller may not see.
    if not is_admin(platform, account):
        raise NotFound("There is nothing at this URL.")


def render_account(account: Account) -> dict[str, Any]:
    return {
        "type": account.type,
        "username": account.username,
        "name": account.name,
        "organizations": [name for _, name in account.organizations],
    }


def render_token(token: TokenInfo, owner: str) -> dict[str, Any]:
    return {
        "id": token.id,
        "account": owner,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": isoformat(token.created_at),
        "last_used_at": isoformat(token.last_used_at),
        "revoked_at": isoformat(token.revoked_at),
    }


async def _acting_as(platform: Platform, account: Account, name: str | None) -> Account:
    if not name or name == account.username:
        return account
    if not account.acts_for(name) and not is_admin(platform, account):
        raise NotFound(f"There is no account named '{name}' that you belong to.")
    async with platform.db.connect() as conn:
        return await accounts.get_account(conn, name)


async def create_token(platform: Platform, account: Account, body: CreateToken) -> dict[str, Any]:
    """A new token for the caller or one of its organizations; the token is in the answer once."""
    target = await _acting_as(platform, account, body.account)
    async with platform.db.begin() as conn:
        token, token_id = await accounts.create_token_with_id(
            conn, target, body.name, max_active=platform.settings.max_tokens_per_account
        )
        info = await accounts.find_token(conn, str(token_id))
    return {**render_token(info, target.username), "token": token}


async def list_tokens(
    platform: Platform, account: Account, of: str | None = None
) -> list[dict[str, Any]]:
    target = await _acting_as(platform, account, of)
    async with platform.db.connect() as conn:
        tokens = await accounts.list_tokens(conn, target)
    return [render_token(t, target.username) for t in tokens]


async def revoke_token(platform: Platform, account: Account, id_or_token: str) -> None:
    """Revoke a token of the caller or of its organizations; it stops working at once here."""
    async with platform.db.begin() as conn:
        try:
            token = await accounts.find_token(conn, id_or_token)
        except NotFound:
            token = None
        if token is None or not (account.sees(token.account_id) or is_admin(platform, account)):
            raise NotFound("There is no such token.")
        await accounts.revoke_token(conn, token)
        await platform.authenticator.changed(conn)
    platform.authenticator.forget()


async def create_user(platform: Platform, account: Account, body: CreateUser) -> dict[str, Any]:
    require_admin(platform, account)
    async with platform.db.begin() as conn:
        user = await accounts.create_account(
            conn, body.username, name=body.name, password=body.password
        )
    return render_account(user)


async def create_organization(
    platform: Platform, account: Account, body: CreateOrganization
) -> dict[str, Any]:
    """A new organization; a user who creates one becomes its member."""
    members: Sequence[str] = body.members
    if account.type == "user" and not is_admin(platform, account):
        members = [account.username, *members]
    async with platform.db.begin() as conn:
        org = await accounts.create_organization(
            conn, body.username, members=list(members), display_name=body.name
        )
        names = await accounts.list_members(conn, org.username)
        await platform.authenticator.changed(conn)
    platform.authenticator.forget()
    return {**render_account(org), "members": names}


async def list_members(platform: Platform, account: Account, organization: str) -> list[str]:
    _check_member(platform, account, organization)
    async with platform.db.connect() as conn:
        return await accounts.list_members(conn, organization)


async def add_member(
    platform: Platform, account: Account, organization: str, username: str
) -> list[str]:
    """Members (and the administrator) add users to an organization."""
    _check_member(platform, account, organization)
    async with platform.db.begin() as conn:
        await accounts.add_member(conn, organization, username)
        names = await accounts.list_members(conn, organization)
        await platform.authenticator.changed(conn)
    platform.authenticator.forget()
    return names


def _check_member(platform: Platform, account: Account, organization: str) -> None:
    if not account.acts_for(organization) and not is_admin(platform, account):
        raise NotFound(f"There is no organization named '{organization}' that you belong to.")
