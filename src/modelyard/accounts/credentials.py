"""API tokens of an account: create (shown once), list, revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelyard.accounts.tokens import PREFIX, display_prefix, hash_token, new_token
from modelyard.accounts.users import Account
from modelyard.core.errors import LimitReached, NotFound
from modelyard.core.timeutil import utcnow
from modelyard.store import Conn
from modelyard.store import accounts as store


@dataclass(frozen=True)
class TokenInfo:
    """What listings show of a token: never the token itself."""

    id: int
    account_id: int
    name: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TokenInfo:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            name=row["name"],
            prefix=row["prefix"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
        )


async def create_token(
    conn: Conn, account: Account, name: str | None = None, *, max_active: int | None = None
) -> str:
    """A new token for `account`; the clear text is returned once and never stored.

    Raises LimitReached when the account already has `max_active` tokens not revoked.
    """
    token, _ = await create_token_with_id(conn, account, name, max_active=max_active)
    return token


async def create_token_with_id(
    conn: Conn, account: Account, name: str | None = None, *, max_active: int | None = None
) -> tuple[str, int]:
    """`create_token`, also returning the new token's id."""
    if max_active is not None:
        await store.lock_account(conn, account.id)
        if await store.count_active_tokens(conn, account.id) >= max_active:
            raise LimitReached(
                f"The account {account.username} already has {max_active} active API tokens, "
                "the most one account may have. Revoke tokens it no longer uses "
                "(`modelyard tokens revoke ID`, or DELETE /v1/account/tokens/ID), or ask the "
                "operator to raise --max-tokens-per-account (MODELYARD_MAX_TOKENS_PER_ACCOUNT)."
            )
    token = new_token()
    token_id = await store.create_token(
        conn,
        account_id=account.id,
        token_hash=hash_token(token),
        prefix=display_prefix(token),
        name=name,
        created_at=utcnow(),
    )
    return token, token_id


async def list_tokens(conn: Conn, account: Account) -> list[TokenInfo]:
    """The account's tokens, revoked ones included, oldest first."""
    return [TokenInfo.from_row(r) for r in await store.list_tokens(conn, account.id)]


async def find_token(conn: Conn, id_or_token: str) -> TokenInfo:
    """A token by its numeric id or by the token itself; raises NotFound."""
    value = id_or_token.strip()
    row = None
    if value.isdigit():
        row = await store.find_token(conn, token_id=int(value))
    elif value.startswith(PREFIX):
        row = await store.find_token(conn, token_hash=hash_token(value))
    if row is None:
        raise NotFound("There is no such token (give its id from `tokens list`, or the token).")
    return TokenInfo.from_row(row)


async def revoke_token(conn: Conn, token: TokenInfo) -> bool:
    """Revoke it for good; False if it already was."""
    return await store.revoke_token(conn, token.id, utcnow())
