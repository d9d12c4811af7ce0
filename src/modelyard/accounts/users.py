"""Accounts (users and organizations) and resolving a token to the account it acts for."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from modelyard.accounts.tokens import hash_token
from modelyard.core.errors import BadRequest, Conflict, NotFound
from modelyard.core.timeutil import utcnow
from modelyard.store import Conn
from modelyard.store import accounts as store
from modelyard.store.database import Database
from modelyard.webhooks.signing import generate_secret

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LAST_USED_EVERY = 60.0
# How long a token's account (and its memberships) is trusted without reading the database:
# the bound on how late a revocation made elsewhere (the CLI, another replica) takes effect.
CACHE_SECONDS = 5.0
AUTH_CHANNEL = "modelyard_auth"  # Postgres NOTIFY channel: tokens or memberships changed
CACHE_MAX = 10_000
ACCOUNT_TYPES = ("user", "organization")


@dataclass(frozen=True)
class Account:
    """The caller: who a token belongs to, and the organizations it acts for."""

    id: int
    username: str
    name: str
    type: str
    webhook_secret: str
    token_id: int | None = None
    # (id, username) of each organization this user is a member of.
    organizations: tuple[tuple[int, str], ...] = ()

    @classmethod
    def from_row(
        cls, row: dict[str, Any], organizations: tuple[tuple[int, str], ...] = ()
    ) -> Account:
        return cls(
            id=row["id"],
            username=row["username"],
            name=row["name"],
            type=row["type"],
            webhook_secret=row["webhook_secret"],
            token_id=row.get("token_id"),
            organizations=organizations,
        )

    @property
    def owners(self) -> tuple[str, ...]:
        """Owner names this account acts for: itself and its organizations."""
        return (self.username, *(name for _, name in self.organizations))

    @property
    def account_ids(self) -> tuple[int, ...]:
        """Account ids whose predictions and files this account sees."""
        return (self.id, *(oid for oid, _ in self.organizations))

    def acts_for(self, owner: str) -> bool:
        """True for its own name and the organizations it belongs to."""
        return owner == self.username or any(name == owner for _, name in self.organizations)

    def sees(self, account_id: int) -> bool:
        """True when a resource of `account_id` belongs to this account or one of its orgs."""
        return account_id == self.id or any(oid == account_id for oid, _ in self.organizations)


def hash_password(password: str) -> str:
    """A salted scrypt hash, `scrypt$<salt hex>$<hash hex>`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, digest = stored.split("$", 2)
    computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return secrets.compare_digest(computed.hex(), digest)


async def create_account(
    conn: Conn,
    username: str,
    *,
    type: str = "user",
    name: str | None = None,
    password: str | None = None,
) -> Account:
    """A new user or organization. Raises BadRequest for a bad name, Conflict if it exists."""
    if not isinstance(username, str) or not USERNAME.match(username):
        raise BadRequest(
            "A username must be lowercase letters, digits, '-' or '_' (at most 63 characters)."
        )
    if type not in ACCOUNT_TYPES:
        raise BadRequest("An account's type is `user` or `organization`.")
    if password is not None and len(password) < 8:
        raise BadRequest("A password must be at least 8 characters long.")
    if await store.find_account(conn, username):
        raise Conflict(f"The account '{username}' already exists.")
    row = await store.create_account(
        conn,
        username=username,
        name=name or username,
        type=type,
        webhook_secret=generate_secret(),
        created_at=utcnow(),
        password_hash=hash_password(password) if password else None,
    )
    return Account.from_row(row)


async def get_account(conn: Conn, username: str) -> Account:
    """The account named `username`, with its organizations; raises NotFound."""
    row = await store.find_account(conn, username)
    if row is None:
        raise NotFound(f"There is no account named '{username}'.")
    return await _with_organizations(conn, row)


async def _with_organizations(conn: Conn, row: dict[str, Any]) -> Account:
    orgs: tuple[tuple[int, str], ...] = ()
    if row["type"] == "user":
        rows = await store.organizations_of(conn, row["id"])
        orgs = tuple((o["id"], o["username"]) for o in rows)
    return Account.from_row(row, orgs)


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
                account = await _with_organizations(conn, row) if row else None
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (now, account)
        if account and account.token_id is not None:
            if now - self._touched.get(account.token_id, -LAST_USED_EVERY) >= LAST_USED_EVERY:
                self._touched[account.token_id] = now
                async with self.db.begin() as conn:
                    await store.touch_token(conn, account.token_id, utcnow())
        return account

    def forget(self) -> None:
        """Drop every cached token (a revocation or a membership change in this process)."""
        self._cache.clear()

    async def changed(self, conn: Conn) -> None:
        """Tokens or memberships change in this transaction: every process forgets its cache
        once it commits (cluster mode: other API replicas `follow`)."""
        await self.db.notify(conn, AUTH_CHANNEL)

    async def follow(self) -> None:
        """Forget the cache whenever another process says tokens changed (Postgres only)."""
        await self.db.listen(AUTH_CHANNEL, self.forget)
