"""Browser sessions: a signed cookie naming the account, how it signed in, and an expiry.

A session signed in with a password ends when the password changes; one signed in with an API
token ends when that token is revoked. Nothing is stored server-side: the cookie is an HMAC-signed
claim that is re-checked against the database on every request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import anyio

from modelyard.accounts.users import Account, _with_organizations, check_password, hash_password
from modelyard.core.errors import BadRequest, NotFound
from modelyard.store import Conn
from modelyard.store import accounts as store

SESSION_TTL = 12 * 3600


@dataclass(frozen=True)
class Session:
    """What a session cookie claims."""

    account_id: int
    token_id: int | None
    password: str | None  # a fingerprint of the password hash it signed in with
    expires: int


def _mac(secret: bytes, kind: str, value: str) -> str:
    digest = hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def password_fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def issue_session(
    secret: bytes,
    account_id: int,
    *,
    token_id: int | None = None,
    password_hash: str | None = None,
    ttl: int = SESSION_TTL,
) -> str:
    """The cookie value of a new session."""
    claims = {
        "a": account_id,
        "t": token_id,
        "p": password_fingerprint(password_hash) if token_id is None else None,
        "e": int(time.time()) + ttl,
    }
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{payload}.{_mac(secret, 'session', payload)}"


def read_session(secret: bytes, value: str | None) -> Session | None:
    """The claims of an authentic, unexpired cookie; None for anything else."""
    if not value or "." not in value:
        return None
    payload, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac, _mac(secret, "session", payload)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        session = Session(
            account_id=int(claims["a"]),
            token_id=None if claims["t"] is None else int(claims["t"]),
            password=claims["p"],
            expires=int(claims["e"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


async def session_account(conn: Conn, session: Session) -> Account | None:
    """The account a session acts for, while its password or token still holds."""
    row = await store.find_account_by_id(conn, session.account_id)
    if row is None or row["type"] != "user":
        return None
    if session.token_id is not None:
        token = await store.find_token(conn, token_id=session.token_id)
        if token is None or token["revoked_at"] is not None or token["account_id"] != row["id"]:
            return None
        row = {**row, "token_id": token["id"]}
    elif session.password != password_fingerprint(row["password_hash"]):
        return None
    return await _with_organizations(conn, row)


async def password_sign_in(conn: Conn, username: str, password: str) -> tuple[Account, str] | None:
    """(account, its password hash) when the password is right; None otherwise."""
    row = await store.find_account(conn, username.strip().lower())
    stored = row["password_hash"] if row is not None and row["type"] == "user" else None
    # Hash even for an unknown user, so the answer takes as long either way; scrypt takes a
    # while, so in a thread, and other requests go on.
    matched = await anyio.to_thread.run_sync(check_password, password, stored or _dummy_hash())
    if row is None or stored is None or not matched:
        return None
    return await _with_organizations(conn, row), stored


async def set_password(conn: Conn, username: str, password: str) -> None:
    """Give a user a new password (at least 8 characters); its password sessions end."""
    row = await store.find_account(conn, username)
    if row is None or row["type"] != "user":
        raise NotFound(f"There is no user named '{username}'.")
    if len(password) < 8:
        raise BadRequest("A password must be at least 8 characters long.")
    await store.set_password_hash(conn, row["id"], hash_password(password))


def csrf_token(secret: bytes, seed: str) -> str:
    """The CSRF token bound to a browser's `seed` cookie."""
    return _mac(secret, "csrf", seed)[:32]


def check_csrf(secret: bytes, seed: str | None, token: str | None) -> bool:
    return bool(seed and token) and hmac.compare_digest(csrf_token(secret, seed or ""), token or "")


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a password anyone has")
