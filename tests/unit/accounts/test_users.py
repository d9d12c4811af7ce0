"""Users, organizations, memberships, tokens, and the authenticator's cache."""

from __future__ import annotations

import pytest

from modelyard import accounts
from modelyard.accounts import users as users_module
from modelyard.core.errors import BadRequest, Conflict, NotFound
from modelyard.store import Database


async def test_organizations_and_what_members_act_for(db: Database) -> None:
    async with db.begin() as conn:
        alice = await accounts.create_account(conn, "alice", password="correct horse")
        await accounts.create_account(conn, "bob")
        org = await accounts.create_organization(conn, "acme", members=["alice"])
        assert await accounts.add_member(conn, "acme", "bob")
        assert not await accounts.add_member(conn, "acme", "bob")
        assert await accounts.list_members(conn, "acme") == ["alice", "bob"]
        with pytest.raises(BadRequest):
            await accounts.add_member(conn, "alice", "bob")  # alice is no organization
        with pytest.raises(BadRequest):
            await accounts.add_member(conn, "acme", "acme")  # only users are members
        with pytest.raises(NotFound):
            await accounts.create_organization(conn, "other", members=["nobody"])
        with pytest.raises(Conflict):
            await accounts.create_account(conn, "acme")
        with pytest.raises(BadRequest):
            await accounts.create_account(conn, "Bad Name")
        alice = await accounts.get_account(conn, "alice")
        row = await users_module.store.find_account(conn, "alice")
    assert alice.owners == ("alice", "acme")
    assert alice.account_ids == (alice.id, org.id)
    assert alice.acts_for("acme") and not alice.acts_for("bob")
    assert alice.sees(org.id) and not alice.sees(org.id + 1)
    assert org.owners == ("acme",)
    assert row is not None
    assert accounts.check_password("correct horse", row["password_hash"])
    assert not accounts.check_password("wrong", row["password_hash"])


async def test_tokens_list_revoke_and_authenticate(db: Database) -> None:
    async with db.begin() as conn:
        alice = await accounts.create_account(conn, "alice")
        await accounts.create_organization(conn, "acme", members=["alice"])
        token = await accounts.create_token(conn, alice, name="laptop")
    assert token.startswith("my_")
    auth = accounts.TokenAuthenticator(db)
    account = await auth.authenticate(token)
    assert account is not None and account.username == "alice" and account.owners[1] == "acme"
    assert await auth.authenticate("my_unknown") is None
    async with db.begin() as conn:
        listed = await accounts.list_tokens(conn, alice)
        assert [(t.name, t.prefix) for t in listed] == [("laptop", token[:8])]
        assert listed[0].last_used_at is not None
        found = await accounts.find_token(conn, token)
        assert found.id == listed[0].id == (await accounts.find_token(conn, str(found.id))).id
        assert await accounts.revoke_token(conn, found)
        assert not await accounts.revoke_token(conn, found)
        with pytest.raises(NotFound):
            await accounts.find_token(conn, "nonsense")
    assert await auth.authenticate(token) is not None  # cached: a revocation elsewhere lags
    auth.forget()
    assert await auth.authenticate(token) is None
