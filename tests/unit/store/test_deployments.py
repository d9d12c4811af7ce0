"""Deployments, releases and instance records on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.store.test_contract import _seed, db  # noqa: F401 - the fixture, both backends

from modelyard.core.timeutil import utcnow
from modelyard.store import Database
from modelyard.store import deployments as store
from modelyard.store import instances as instances_store


async def test_deployments_and_releases(db: Database) -> None:  # noqa: F811
    account, model, version = await _seed(db)
    async with db.begin() as conn:
        first = await store.create_deployment(
            conn, owner="alice", name="prod", account_id=account["id"], current_release=1,
            created_at=utcnow(),
        )  # fmt: skip
        second = await store.create_deployment(
            conn, owner="alice", name="staging", account_id=account["id"], current_release=1,
            created_at=utcnow(),
        )  # fmt: skip
        for deployment in (first, second):
            await store.create_release(
                conn, deployment_id=deployment["id"], number=1, model="alice/m",
                version=version["id"], version_pk=version["pk"], hardware="cpu",
                min_instances=0, max_instances=1, created_by_id=account["id"],
                created_at=utcnow(),
            )  # fmt: skip
        await store.create_release(
            conn, deployment_id=first["id"], number=2, model="alice/m", version=version["id"],
            version_pk=version["pk"], hardware="gpu-t4", min_instances=1, max_instances=2,
            created_by_id=account["id"], created_at=utcnow(),
        )  # fmt: skip
        await store.set_current_release(conn, first["id"], 2)
    async with db.connect() as conn:
        found = await store.find_deployment(conn, "alice", "prod")
        assert found is not None and found["current_release"] == 2
        release = await store.find_release(conn, first["id"], 2)
        assert release is not None
        assert (release["hardware"], release["min_instances"], release["max_instances"]) == (
            "gpu-t4",
            1,
            2,
        )
        assert (release["creator_username"], release["creator_name"]) == ("alice", "Alice")
        page = await store.list_deployments(conn, owners=["alice"], before_id=None, limit=1)
        assert [d["name"] for d in page] == ["staging"]  # newest first
        rest = await store.list_deployments(
            conn, owners=["alice"], before_id=page[0]["id"], limit=5
        )
        assert [d["name"] for d in rest] == ["prod"]
        assert await store.list_deployments(conn, owners=["bob"], before_id=None, limit=5) == []
        assert await store.count_releases_of_version(conn, version["pk"]) == 2
        assert [r["number"] for r in await store.list_releases(conn, first["id"])] == [1, 2]
    async with db.begin() as conn:
        await store.delete_deployment(conn, first["id"])
    async with db.connect() as conn:
        assert await store.find_deployment_by_id(conn, first["id"]) is None
        assert await store.list_releases(conn, first["id"]) == []
        assert await store.count_releases_of_version(conn, version["pk"]) == 1


async def test_instance_records(db: Database) -> None:  # noqa: F811
    now = utcnow()
    base = dict(
        queue="deployment:1", version="a" * 64, model="alice/m", deployment="alice/prod",
        hardware="gpu-t4", gpus=[0], owners=["alice"], pid=123, predictions=0,
    )  # fmt: skip
    async with db.begin() as conn:
        await instances_store.save_instance(
            conn, id="inst-old", state="stopped", started_at=now - timedelta(days=40),
            stopped_at=now - timedelta(days=40), **base,
        )  # fmt: skip
        await instances_store.save_instance(
            conn, id="inst-1", state="booting", started_at=now, **base
        )
        await instances_store.save_instance(
            conn, id="inst-1", state="idle", started_at=now, ready_at=now, setup_seconds=0.5,
            setup_logs="Setup complete", **{**base, "predictions": 3},
        )  # fmt: skip
    async with db.connect() as conn:
        record = await instances_store.find_instance(conn, "inst-1")
        assert record is not None
        assert (record["state"], record["predictions"], record["gpus"]) == ("idle", 3, [0])
        assert record["setup_logs"] == "Setup complete" and record["setup_seconds"] == 0.5
        assert [r["id"] for r in await instances_store.list_instances(conn, limit=5)] == [
            "inst-1",
            "inst-old",
        ]
    async with db.begin() as conn:
        assert await instances_store.close_unfinished(conn, utcnow()) == 1
        assert await instances_store.delete_stopped_before(conn, now - timedelta(days=30)) == 1
    async with db.connect() as conn:
        closed = await instances_store.find_instance(conn, "inst-1")
        assert closed is not None and closed["state"] == "stopped"
        assert closed["stop_reason"] == "platform restarted"
        assert await instances_store.find_instance(conn, "inst-old") is None
