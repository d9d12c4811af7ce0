"""The worker registry and instance slots, on SQLite and on this machine's PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.unit.store.test_contract import _prediction, _seed, db  # noqa: F401 - the fixture

from modelyard.core.timeutil import utcnow
from modelyard.store import Database
from modelyard.store import predictions as predictions_store
from modelyard.store import workers as store


async def _register(db: Database, name: str, *, silent_for: float = 0.0) -> None:  # noqa: F811
    beat = utcnow() - timedelta(seconds=silent_for)
    async with db.begin() as conn:
        await store.save_worker(
            conn,
            name=name,
            hardware=[{"sku": "cpu", "name": "CPU", "count": 0}],
            cpus=2,
            capacity=2,
            load=0,
            instances=0,
            state="active",
            started_at=beat,
            heartbeat_at=beat,
            stopped_at=None,
        )


async def test_slots_bound_a_queue_across_workers(db: Database) -> None:  # noqa: F811
    async def claim(worker: str, instance: str, limit: int = 2) -> int | None:
        async with db.begin() as conn:
            return await store.claim_slot(
                conn, "deployment:1", limit, worker=worker, instance_id=instance, now=utcnow()
            )

    assert await claim("a", "i1") == 0
    assert await claim("b", "i2") == 1
    assert await claim("b", "i3") is None  # max_instances 2, on both workers together
    assert await claim("a", "i4", limit=1) is None  # the warm slot is held
    async with db.begin() as conn:
        await store.release_slot(conn, "i1")
    assert await claim("b", "i5") == 0
    async with db.begin() as conn:
        assert await store.release_slots_of(conn, "b") == 2
        assert await store.count_slots(conn, "deployment:1") == 0


async def test_one_slot_goes_to_one_of_two_racing_workers(db: Database) -> None:  # noqa: F811
    async def claim(worker: str) -> int | None:
        try:
            async with db.begin() as conn:
                return await store.claim_slot(
                    conn, "version:1", 1, worker=worker, instance_id=worker, now=utcnow()
                )
        except store.SlotTaken:
            return None

    results = await asyncio.gather(*(claim(f"w{n}") for n in range(8)))
    assert sorted(r for r in results if r is not None) == [0]
    async with db.connect() as conn:
        assert await store.count_slots(conn, "version:1") == 1


async def test_silent_workers_are_lost_once_and_their_predictions_end_once(
    db: Database,  # noqa: F811
) -> None:
    account, model, version = await _seed(db)
    await _register(db, "alive")
    await _register(db, "silent", silent_for=60)
    async with db.begin() as conn:
        row = _prediction("p1", account, model, version, utcnow())
        await predictions_store.create_prediction(conn, **{**row, "status": "processing"})
        await predictions_store.update_prediction(conn, "p1", worker="silent")
    cutoff = utcnow() - timedelta(seconds=30)
    async with db.begin() as conn:
        assert await store.mark_lost(conn, cutoff, utcnow()) == ["silent"]
        assert await store.mark_lost(conn, cutoff, utcnow()) == []
        assert not await store.heartbeat(conn, "silent", heartbeat_at=utcnow())
        assert await store.heartbeat(conn, "alive", heartbeat_at=utcnow())
        running = await store.running_on(conn, "silent", "processing")
        assert [r["id"] for r in running] == ["p1"]
        # The terminal write is conditional: on the worker and on `processing`, so it lands once.
        assert await store.end_running_on(conn, "silent", "p1", status="failed")
        assert not await store.end_running_on(conn, "silent", "p1", status="failed")
        assert not await store.end_running_on(conn, "alive", "p1", status="failed")
