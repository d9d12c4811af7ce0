"""Per-account caps in the store and the accounts part, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from tests.unit.store.test_contract import _seed, db  # noqa: F401 - the fixture, both backends

from modelyard.accounts import create_token, find_token, get_account, revoke_token
from modelyard.core.errors import LimitReached
from modelyard.core.timeutil import utcnow
from modelyard.store import Database
from modelyard.store import accounts as accounts_store
from modelyard.store import deployments as deployments_store


async def test_token_cap_counts_only_live_tokens(db: Database) -> None:  # noqa: F811
    await _seed(db)
    async with db.begin() as conn:
        alice = await get_account(conn, "alice")
        first = await create_token(conn, alice, max_active=2)
        await create_token(conn, alice, max_active=2)
        with pytest.raises(LimitReached) as info:
            await create_token(conn, alice, max_active=2)
    assert info.value.status == 403
    assert "already has 2 active API tokens" in info.value.detail
    assert "MODELYARD_MAX_TOKENS_PER_ACCOUNT" in info.value.detail
    async with db.begin() as conn:
        assert await accounts_store.count_active_tokens(conn, alice.id) == 2
        await revoke_token(conn, await find_token(conn, first))
        assert await accounts_store.count_active_tokens(conn, alice.id) == 1
        await create_token(conn, alice, max_active=2)  # the revoked one made room


async def test_account_usage_sums_current_releases(db: Database) -> None:  # noqa: F811
    account, _, version = await _seed(db)
    now = utcnow()
    async with db.begin() as conn:
        await accounts_store.lock_account(conn, account["id"])
        assert await deployments_store.account_usage(conn, account["id"]) == (0, 0)
        ids = []
        for name, warm in (("a", 2), ("b", 0), ("c", 1)):
            row = await deployments_store.create_deployment(
                conn, owner="alice", name=name, account_id=account["id"],
                current_release=1, created_at=now,
            )  # fmt: skip
            ids.append(row["id"])
            await deployments_store.create_release(
                conn, deployment_id=row["id"], number=1, model="alice/m", version=version["id"],
                version_pk=version["pk"], hardware="cpu", min_instances=warm, max_instances=3,
                created_by_id=account["id"], created_at=now,
            )  # fmt: skip
        # Release 2 of `a` is its current one: only that counts.
        await deployments_store.create_release(
            conn, deployment_id=ids[0], number=2, model="alice/m", version=version["id"],
            version_pk=version["pk"], hardware="cpu", min_instances=3, max_instances=3,
            created_by_id=account["id"], created_at=now,
        )  # fmt: skip
        await deployments_store.set_current_release(conn, ids[0], 2)
        assert await deployments_store.account_usage(conn, account["id"]) == (3, 4)
        assert await deployments_store.account_usage(conn, account["id"], excluding=ids[0]) == (
            2,
            1,
        )
        assert await deployments_store.account_usage(conn, account["id"] + 1000) == (0, 0)
