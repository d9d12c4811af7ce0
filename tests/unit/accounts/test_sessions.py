"""Browser sessions: signed cookies that end with the password or token they came from."""

from __future__ import annotations

import time

import pytest

from modelyard import accounts
from modelyard.core.errors import BadRequest, NotFound
from modelyard.store import Database

SECRET = b"k" * 32


async def test_password_session_ends_when_the_password_changes(db: Database) -> None:
    async with db.begin() as conn:
        await accounts.create_account(conn, "alice", password="correct horse")
        assert await accounts.password_sign_in(conn, "alice", "wrong horse") is None
        assert await accounts.password_sign_in(conn, "nobody", "correct horse") is None
        found = await accounts.password_sign_in(conn, "Alice ", "correct horse")
        assert found is not None
        cookie = accounts.issue_session(SECRET, found[0].id, password_hash=found[1])
        session = accounts.read_session(SECRET, cookie)
        assert session is not None
        viewer = await accounts.session_account(conn, session)
        assert viewer is not None and viewer.username == "alice"
        await accounts.set_password(conn, "alice", "another horse")
        assert await accounts.session_account(conn, session) is None
        with pytest.raises(BadRequest):
            await accounts.set_password(conn, "alice", "short")
        with pytest.raises(NotFound):
            await accounts.set_password(conn, "nobody", "long enough")


async def test_token_session_ends_when_the_token_is_revoked(db: Database) -> None:
    async with db.begin() as conn:
        bob = await accounts.create_account(conn, "bob")  # no password: token sign-in only
        token, token_id = await accounts.create_token_with_id(conn, bob)
        assert await accounts.password_sign_in(conn, "bob", "") is None
        session = accounts.read_session(
            SECRET, accounts.issue_session(SECRET, bob.id, token_id=token_id)
        )
        assert session is not None
        viewer = await accounts.session_account(conn, session)
        assert viewer is not None and viewer.token_id == token_id
        await accounts.revoke_token(conn, await accounts.find_token(conn, token))
        assert await accounts.session_account(conn, session) is None


def test_forged_tampered_or_expired_cookies_are_refused() -> None:
    cookie = accounts.issue_session(SECRET, 1, password_hash="scrypt$x$y")
    assert accounts.read_session(SECRET, cookie) is not None
    payload, _, mac = cookie.rpartition(".")
    assert accounts.read_session(b"other" * 8, cookie) is None
    assert accounts.read_session(SECRET, payload + "." + mac[:-2] + "AA") is None
    forged = accounts.issue_session(b"other" * 8, 2).split(".")[0]
    assert accounts.read_session(SECRET, f"{forged}.{mac}") is None
    assert accounts.read_session(SECRET, "") is None
    assert accounts.read_session(SECRET, "garbage") is None
    expired = accounts.issue_session(SECRET, 1, ttl=-1)
    assert accounts.read_session(SECRET, expired) is None
    assert accounts.read_session(SECRET, cookie).expires > time.time()  # type: ignore[union-attr]


def test_csrf_token_is_bound_to_its_seed() -> None:
    token = accounts.csrf_token(SECRET, "seed-a")
    assert accounts.check_csrf(SECRET, "seed-a", token)
    assert not accounts.check_csrf(SECRET, "seed-b", token)
    assert not accounts.check_csrf(SECRET, "seed-a", None)
    assert not accounts.check_csrf(SECRET, None, token)
    assert not accounts.check_csrf(b"other" * 8, "seed-a", token)
