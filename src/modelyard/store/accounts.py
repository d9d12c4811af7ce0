"""Accounts and API tokens in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from modelyard.store.database import Conn
from modelyard.store.tables import accounts, memberships, tokens


async def create_account(
    conn: Conn,
    *,
    username: str,
    name: str,
    type: str,
    webhook_secret: str,
    created_at: datetime,
    password_hash: str | None = None,
) -> dict[str, Any]:
    values = dict(
        username=username,
        name=name,
        type=type,
        webhook_secret=webhook_secret,
        created_at=created_at,
        password_hash=password_hash,
    )
    result = await conn.execute(insert(accounts).values(**values))
    return {"id": result.inserted_primary_key[0], **values}  # type: ignore[index]


async def find_account(conn: Conn, username: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(accounts).where(accounts.c.username == username))).first()
    return dict(row._mapping) if row else None


async def find_account_by_id(conn: Conn, account_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    return dict(row._mapping) if row else None


async def count_accounts(conn: Conn) -> int:
    return len((await conn.execute(select(accounts.c.id))).all())


async def create_token(
    conn: Conn,
    *,
    account_id: int,
    token_hash: str,
    prefix: str,
    name: str | None,
    created_at: datetime,
) -> int:
    result = await conn.execute(
        insert(tokens).values(
            account_id=account_id,
            token_hash=token_hash,
            prefix=prefix,
            name=name,
            created_at=created_at,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_token_account(conn: Conn, token_hash: str) -> dict[str, Any] | None:
    """The account a live (not revoked) token belongs to, with the token id."""
    query = (
        select(accounts, tokens.c.id.label("token_id"))
        .join(tokens, tokens.c.account_id == accounts.c.id)
        .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
    )
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


async def touch_token(conn: Conn, token_id: int, when: datetime) -> None:
    await conn.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=when))


async def list_tokens(conn: Conn, account_id: int) -> list[dict[str, Any]]:
    """Every token of an account, revoked ones included, oldest first."""
    query = select(tokens).where(tokens.c.account_id == account_id).order_by(tokens.c.id)
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def find_token(
    conn: Conn, *, token_id: int | None = None, token_hash: str | None = None
) -> dict[str, Any] | None:
    """A token row by id or by hash, or None."""
    if token_id is not None:
        query = select(tokens).where(tokens.c.id == token_id)
    else:
        query = select(tokens).where(tokens.c.token_hash == token_hash)
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row else None


async def revoke_token(conn: Conn, token_id: int, when: datetime) -> bool:
    """Revoke a live token; False if it was already revoked."""
    result = await conn.execute(
        update(tokens)
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return bool(result.rowcount)


async def add_member(conn: Conn, organization_id: int, user_id: int, when: datetime) -> bool:
    """Make a user a member of an organization; False if they already were."""
    query = select(memberships.c.id).where(
        memberships.c.organization_id == organization_id, memberships.c.user_id == user_id
    )
    if (await conn.execute(query)).first() is not None:
        return False
    values = dict(organization_id=organization_id, user_id=user_id, created_at=when)
    await conn.execute(insert(memberships).values(**values))
    return True


async def organizations_of(conn: Conn, user_id: int) -> list[dict[str, Any]]:
    """The organizations a user belongs to (id and username), by name."""
    query = (
        select(accounts.c.id, accounts.c.username)
        .join(memberships, memberships.c.organization_id == accounts.c.id)
        .where(memberships.c.user_id == user_id)
        .order_by(accounts.c.username)
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def members_of(conn: Conn, organization_id: int) -> list[dict[str, Any]]:
    """The users of an organization (id, username, name), by name."""
    query = (
        select(accounts.c.id, accounts.c.username, accounts.c.name)
        .join(memberships, memberships.c.user_id == accounts.c.id)
        .where(memberships.c.organization_id == organization_id)
        .order_by(accounts.c.username)
    )
    return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def list_accounts(conn: Conn) -> list[dict[str, Any]]:
    query = select(accounts.c.id, accounts.c.username, accounts.c.name, accounts.c.type)
    return [dict(r._mapping) for r in (await conn.execute(query.order_by(accounts.c.id))).all()]


async def lock_account(conn: Conn, account_id: int) -> None:
    """Hold the account's row until the transaction ends (Postgres; SQLite transactions are
    serialised anyway), so a count checked against a per-account cap stays true until the
    insert it allows."""
    await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())


async def count_active_tokens(conn: Conn, account_id: int) -> int:
    """Tokens of the account that are not revoked."""
    query = select(func.count()).where(
        tokens.c.account_id == account_id, tokens.c.revoked_at.is_(None)
    )
    return int((await conn.execute(query)).scalar_one())


async def set_password_hash(conn: Conn, account_id: int, password_hash: str) -> None:
    await conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(password_hash=password_hash)
    )
