"""Creating accounts and tokens, and resolving a token to its account."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from modelyard.accounts.tokens import display_prefix, hash_token, new_token
from modelyard.core.errors import BadRequest, Conflict, NotFound
from modelyard.core.timeutil import utcnow
from modelyard.store import Conn
from modelyard.store import accounts as store
from modelyard.store.database import Database
from modelyard.webhooks.signing import generate_secret

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LAST_USED_EVERY = 60.0
CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Account:
    """The caller: who a token belongs to."""

    id: int
    username: str
    name: str
    type: str
    webhook_secret: str
    token_id: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Account:
        return cls(
            id=row["id"],
            username=row["username"],
            name=row["name"],
            type=row["type"],
            webhook_secret=row["webhook_secret"],
            token_id=row.get("token_id"),
        )


async def create_account(
    conn: Conn, username: str, *, type: str = "user", name: str | None = None
) -> Account:
    if not USERNAME.match(username):
        raise BadRequest(
            "A username must be lowercase letters, digits, '-' or '_' (at most 63 characters)."
        )
    if await store.find_account(conn, username):
        raise Conflict(f"The account '{username}' already exists.")
    row = await store.create_account(
        conn,
        username=username,
        name=name or username,
        type=type,
        webhook_secret=generate_secret(),
        created_at=utcnow(),
    )
    return Account.from_row(row)


async def get_account(conn: Conn, username: str) -> Account:
    row = await store.find_account(conn, username)
    if row is None:
        raise NotFound(f"There is no account named '{username}'.")
    return Account.from_row(row)


async def create_token(conn: Conn, account: Account, name: str | None = None) -> str:
    """A new token for `account`; the clear text is returned once and never stored."""
    token = new_token()
    await store.create_token(
        conn,
        account_id=account.id,
        token_hash=hash_token(token),
        prefix=display_prefix(token),
        name=name,
        created_at=utcnow(),
    )
    return token


class TokenAuthenticator:
    """Resolves tokens to accounts with a short cache; records last use at most once a minute."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, Account | None]] = {}
        self._touched: dict[int, float] = {}

    async def authenticate(self, token: str) -> Account | None:
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and now - cached[0] < CACHE_SECONDS:
            account = cached[1]
        else:
            async with self.db.connect() as conn:
                row = await store.find_token_account(conn, digest)
            account = Account.from_row(row) if row else None
            self._cache[digest] = (now, account)
        if account and account.token_id is not None:
            if now - self._touched.get(account.token_id, -LAST_USED_EVERY) >= LAST_USED_EVERY:
                self._touched[account.token_id] = now
                async with self.db.begin() as conn:
                    await store.touch_token(conn, account.token_id, utcnow())
        return account

    def forget(self) -> None:
        self._cache.clear()
