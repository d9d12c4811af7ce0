"""Retention removes API predictions' data after the period and keeps web predictions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from modelyard.core.timeutil import utcnow
from modelyard.files.storage import LocalFileStorage
from modelyard.services.retention import Retention
from modelyard.store import Database
from modelyard.store import accounts as accounts_store
from modelyard.store import models as models_store
from modelyard.store import predictions as store


async def test_sweep_removes_old_api_predictions_only(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    await db.migrate()
    storage = LocalFileStorage(tmp_path / "files")
    now = utcnow()
    async with db.begin() as conn:
        account = await accounts_store.create_account(
            conn, username="a", name="a", type="user", webhook_secret="w", created_at=now
        )
        model = await models_store.create_model(
            conn, owner="a", name="m", visibility="private", hardware="cpu", created_at=now
        )
        version = await models_store.create_version(
            conn, id="a" * 64, model_id=model["id"], status="ready", created_at=now
        )
        for pid, source, age in (("old", "api", 10), ("web", "web", 10), ("new", "api", 0)):
            await store.create_prediction(
                conn,
                id=pid,
                account_id=account["id"],
                model_id=model["id"],
                version_pk=version["pk"],
                model="a/m",
                version="a" * 64,
                input={"text": "private"},
                output="modelyard://files/predictions/x/out.png",
                logs="log line",
                status="succeeded",
                metrics={"predict_time": 1.0},
                source=source,
                cost_usd=0.0001,
                created_at=now - timedelta(seconds=age + 1),
                completed_at=now - timedelta(seconds=age),
            )
            await storage.put(f"predictions/{pid}/out.png", b"png")
    platform = SimpleNamespace(
        db=db, storage=storage, execution=SimpleNamespace(final_rows={"old": {}})
    )
    retention = Retention(platform, 5.0)  # type: ignore[arg-type]
    assert await retention.sweep() == 1
    assert await retention.sweep() == 0
    async with db.connect() as conn:
        old = await store.find_prediction(conn, "old")
        web = await store.find_prediction(conn, "web")
        new = await store.find_prediction(conn, "new")
    assert old is not None and web is not None and new is not None
    assert old["data_removed"] and old["input"] == {} and old["output"] is None
    assert old["logs"] == "" and old["status"] == "succeeded" and old["cost_usd"] == 0.0001
    assert not await storage.exists("predictions/old/out.png")
    assert not web["data_removed"] and web["input"] == {"text": "private"}
    assert await storage.exists("predictions/web/out.png")
    assert not new["data_removed"]
    assert "old" not in platform.execution.final_rows
    assert Retention(platform, None).interval == 60.0  # type: ignore[arg-type]
    await db.close()
