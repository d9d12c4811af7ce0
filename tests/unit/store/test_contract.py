"""One contract for the store, run on SQLite and on the real PostgreSQL of this machine."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from modelyard.core.timeutil import utcnow
from modelyard.store import Database
from modelyard.store import accounts as accounts_store
from modelyard.store import files as files_store
from modelyard.store import models as models_store
from modelyard.store import predictions as predictions_store
from modelyard.store import webhooks as webhooks_store

POSTGRES = "postgresql://127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'store.db'}")
        await database.migrate()
        yield database
        await database.close()
        return
    name = f"modelyard_contract_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database = Database(f"postgresql://127.0.0.1:5432/{name}")
    try:
        await database.migrate()
        yield database
    finally:
        await database.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def _seed(db: Database) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    async with db.begin() as conn:
        account = await accounts_store.create_account(
            conn,
            username="alice",
            name="Alice",
            type="user",
            webhook_secret="whsec_x",
            created_at=utcnow(),
        )
        model = await models_store.create_model(
            conn, owner="alice", name="m", visibility="private", hardware="cpu", created_at=utcnow()
        )
        version = await models_store.create_version(
            conn,
            id="a" * 64,
            model_id=model["id"],
            status="ready",
            created_at=utcnow(),
            build_logs="",
            concurrency=1,
            gpu=False,
            openapi_schema={"components": {}},
        )
    return account, model, version


def _prediction(pid: str, account: dict, model: dict, version: dict, created) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return dict(
        id=pid,
        account_id=account["id"],
        model_id=model["id"],
        version_pk=version["pk"],
        model="alice/m",
        version=version["id"],
        input={"x": 1},
        output=None,
        logs="",
        status="starting",
        metrics={},
        source="api",
        data_removed=False,
        created_at=created,
    )


async def test_accounts_and_tokens(db: Database) -> None:
    account, _, _ = await _seed(db)
    async with db.begin() as conn:
        token_id = await accounts_store.create_token(
            conn,
            account_id=account["id"],
            token_hash="h" * 64,
            prefix="my_abcde",
            name="ci",
            created_at=utcnow(),
        )
        found = await accounts_store.find_token_account(conn, "h" * 64)
        assert found is not None and found["username"] == "alice" and found["token_id"] == token_id
        assert await accounts_store.find_token_account(conn, "x" * 64) is None
        assert await accounts_store.count_accounts(conn) == 1


async def test_models_and_versions(db: Database) -> None:
    _, model, version = await _seed(db)
    async with db.connect() as conn:
        assert (await models_store.find_model(conn, "alice", "m"))["id"] == model["id"]  # type: ignore[index]
        assert (await models_store.find_version(conn, model["id"], "a" * 64))["openapi_schema"] == {
            "components": {}
        }  # type: ignore[index]
        assert [v["pk"] for v in await models_store.find_versions_by_id(conn, "a" * 64)] == [
            version["pk"]
        ]
        listed = await models_store.list_models(conn, visible_to=["alice"], after_id=None, limit=10)
        assert [m["name"] for m in listed] == ["m"]
        assert (
            await models_store.list_models(conn, visible_to=["bob"], after_id=None, limit=10) == []
        )


async def test_prediction_lifecycle_and_paging(db: Database) -> None:
    account, model, version = await _seed(db)
    now = utcnow()
    async with db.begin() as conn:
        for i in range(5):
            await predictions_store.create_prediction(
                conn, **_prediction(f"p{i}", account, model, version, now + timedelta(seconds=i))
            )
    async with db.begin() as conn:
        assert await predictions_store.update_if_status(
            conn, "p0", "starting", status="processing", started_at=now
        )
        assert not await predictions_store.update_if_status(
            conn, "p0", "starting", status="processing"
        )
        await predictions_store.update_prediction(conn, "p0", output=["a", "b"], logs="hi\n")
    async with db.connect() as conn:
        row = await predictions_store.find_prediction(conn, "p0")
        assert row is not None and row["status"] == "processing" and row["output"] == ["a", "b"]
        first = await predictions_store.list_predictions(
            conn, account_id=account["id"], before=None, limit=3
        )
        assert [r["id"] for r in first] == ["p4", "p3", "p2"]
        rest = await predictions_store.list_predictions(
            conn,
            account_id=account["id"],
            before=(first[-1]["created_at"], first[-1]["id"]),
            limit=3,
        )
        assert [r["id"] for r in rest] == ["p1", "p0"]
        assert {r["id"] for r in await predictions_store.list_by_status(conn, ["processing"])} == {
            "p0"
        }


async def test_files_and_webhook_outbox(db: Database) -> None:
    account, model, version = await _seed(db)
    now = utcnow()
    async with db.begin() as conn:
        await predictions_store.create_prediction(
            conn, **_prediction("p", account, model, version, now)
        )
        await files_store.create_file(
            conn,
            id="f1",
            account_id=account["id"],
            name="a.txt",
            content_type="text/plain",
            size=1,
            sha256="0" * 64,
            md5="0" * 32,
            metadata={"k": "v"},
            storage_key="files/f1/a.txt",
            created_at=now,
        )
        delivery = await webhooks_store.add_delivery(
            conn,
            prediction_id="p",
            message_id="msg_1",
            event="completed",
            url="http://x",
            payload="{}",
            state="pending",
            attempts=0,
            next_attempt_at=0.0,
            created_at=now,
        )
        await webhooks_store.record_attempt(
            conn,
            prediction_id="p",
            message_id="msg_1",
            event="completed",
            attempt=1,
            at=now,
            status_code=500,
            latency_ms=1.0,
            error="HTTP 500",
        )
    async with db.begin() as conn:
        assert (await files_store.find_file(conn, "f1"))["metadata"] == {"k": "v"}  # type: ignore[index]
        assert [d["id"] for d in await webhooks_store.pending_deliveries(conn)] == [delivery]
        await webhooks_store.update_delivery(conn, delivery, state="delivered", attempts=1)
        assert await webhooks_store.pending_deliveries(conn) == []
        assert [a["status_code"] for a in await webhooks_store.list_attempts(conn, "p")] == [500]
        await files_store.delete_file(conn, "f1")
        assert await files_store.find_file(conn, "f1") is None
