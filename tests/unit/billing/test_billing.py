"""Prices, the meter's ledger entries and balances, and usage reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelyard.billing import DEFAULT_PRICES, InstanceTarget, Meter, load_prices, summarize
from modelyard.core.errors import BillingRequired
from modelyard.core.timeutil import utcnow
from modelyard.store import Database
from modelyard.store import accounts as accounts_store
from modelyard.store import billing as billing_store


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    await database.migrate()
    async with database.begin() as conn:
        for name in ("alice", "bob"):
            await accounts_store.create_account(
                conn, username=name, name=name, type="user", webhook_secret="w", created_at=utcnow()
            )
    yield database
    await database.close()


def test_default_prices_and_file_override(tmp_path: Path) -> None:
    prices = load_prices(None)
    assert prices.per_second("cpu") == 0.0001
    assert prices.per_second("gpu-t4") == 0.000225
    assert prices.per_second("gpu-l40s") == 0.000975
    assert prices.per_second("gpu-a100-large") == 0.0014
    assert prices.per_second("gpu-h100") == 0.001525
    assert prices.per_second("gpu-unknown") == 0.0
    path = tmp_path / "prices.yaml"
    path.write_text("gpu-t4: 0.001\nmy-sku: 0.5\n")
    custom = load_prices(path)
    assert custom.per_second("gpu-t4") == 0.001 and custom.per_second("my-sku") == 0.5
    assert custom.per_second("cpu") == DEFAULT_PRICES["cpu"]
    assert custom.cost("gpu-t4", 2.5) == pytest.approx(0.0025)
    path.write_text("gpu-t4: cheap\n")
    with pytest.raises(ValueError, match="non-negative number"):
        load_prices(path)
    with pytest.raises(ValueError, match="Cannot read"):
        load_prices(tmp_path / "missing.yaml")


def test_prediction_entry_is_predict_time_times_price(db: Database) -> None:
    meter = Meter(db, load_prices(None))
    row = {"id": "p1", "account_id": 1, "model": "a/m", "version": "v", "hardware": "gpu-t4"}
    entry = meter.prediction_entry(row, 2.0)
    assert entry["usd"] == pytest.approx(0.00045)
    assert entry["kind"] == "prediction" and entry["hardware"] == "gpu-t4"
    assert meter.prediction_entry({**row, "hardware": None}, 1.0)["hardware"] == "cpu"


async def test_instance_time_is_setup_busy_and_idle(db: Database) -> None:
    meter = Meter(db, load_prices(None))
    target = InstanceTarget(account_id=1, hardware="gpu-t4", model="alice/m", version="v")
    await meter.instance_started("inst-1", target, 3.0)
    busy = meter.prediction_entry(
        {"id": "p", "account_id": 2, "instance_id": "inst-1", "hardware": "gpu-t4"}, 4.0
    )
    async with db.begin() as conn:
        await billing_store.add_entry(conn, **busy)
    meter.recorded(busy)
    await meter.instance_stopped("inst-1", target, 10.0)
    # A boot that failed: all of it was setup.
    await meter.instance_stopped("inst-2", target, 1.5)
    # Public models (no target) are not billed for instance time.
    await meter.instance_started("inst-3", None, 5.0)
    await meter.instance_stopped("inst-3", None, 50.0)
    async with db.connect() as conn:
        start, end = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
        entries = await billing_store.list_entries(conn, account_ids=[1, 2], start=start, end=end)
    kinds = [(e["kind"], e["seconds"], e["account_id"]) for e in entries]
    assert kinds == [("setup", 3.0, 1), ("prediction", 4.0, 2), ("idle", 3.0, 1), ("setup", 1.5, 1)]
    whole = sum(e["seconds"] for e in entries[:3])
    assert whole == pytest.approx(10.0)  # the ledger holds the instance's whole life
    assert sum(e["usd"] for e in entries) == pytest.approx(11.5 * 0.000225)


async def test_credit_mode_refuses_when_used_up_and_top_up_counts_at_once(db: Database) -> None:
    meter = Meter(db, load_prices(None), mode="credit", starting_credit=0.0001)
    await meter.ensure_can_run(1)
    entry = meter.prediction_entry({"id": "p", "account_id": 1, "hardware": "cpu"}, 2.0)
    async with db.begin() as conn:
        await billing_store.add_entry(conn, **entry)
    meter.recorded(entry)
    with pytest.raises(BillingRequired) as info:
        await meter.ensure_can_run(1)
    assert info.value.status == 402 and "modelyard credit add" in info.value.detail
    await meter.ensure_can_run(2)  # another account has its own credit
    async with db.begin() as conn:  # a top-up made by another process (the CLI)
        await billing_store.add_credit(conn, 1, 1.0, "top-up", utcnow())
    await meter.ensure_can_run(1)
    assert (await meter.balance(1)).balance_usd == pytest.approx(1.0001 - 0.0002)


async def test_metering_mode_never_refuses(db: Database) -> None:
    meter = Meter(db, load_prices(None), mode="metering", starting_credit=0.0)
    await meter.ensure_can_run(1)
    with pytest.raises(ValueError):
        Meter(db, load_prices(None), mode="free")


def test_usage_groups_and_totals() -> None:
    day1 = datetime(2026, 11, 1, 12, tzinfo=UTC)
    day2 = datetime(2026, 11, 2, 12, tzinfo=UTC)

    def entry(kind: str, model: str, hw: str, seconds: float, usd: float, at: datetime) -> dict:  # type: ignore[type-arg]
        return dict(
            kind=kind,
            model=model,
            hardware=hw,
            deployment=None,
            seconds=seconds,
            usd=usd,
            created_at=at,
        )

    entries = [
        entry("prediction", "a/x", "cpu", 1.0, 0.0001, day1),
        entry("prediction", "a/x", "cpu", 2.0, 0.0002, day2),
        entry("setup", "a/y", "gpu-t4", 4.0, 0.0009, day2),
        entry("prediction", "a/y", "gpu-t4", 1.0, 0.000225, day2),
        entry("training", "a/y", "gpu-t4", 2.0, 0.00045, day2),
    ]
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    by_model = summarize(entries, group_by="model", start=start, end=end)
    assert by_model["start"] == "2026-11-01T00:00:00Z"
    assert by_model["total_usd"] == pytest.approx(0.001875)
    assert by_model["groups"] == [
        {
            "key": "a/x",
            "predictions": 2,
            "trainings": 0,
            "seconds": 3.0,
            "usd": pytest.approx(0.0003),
        },
        {
            "key": "a/y",
            "predictions": 1,
            "trainings": 1,
            "seconds": 7.0,
            "usd": pytest.approx(0.001575),
        },
    ]
    by_day = summarize(entries, group_by="day", start=start, end=end)
    assert [g["key"] for g in by_day["groups"]] == ["2026-11-01", "2026-11-02"]
    by_hw = summarize(entries, group_by="hardware", start=start, end=end)
    assert {g["key"] for g in by_hw["groups"]} == {"cpu", "gpu-t4"}
    by_dep = summarize(entries, group_by="deployment", start=start, end=end)
    assert [g["key"] for g in by_dep["groups"]] == ["none"]
    with pytest.raises(ValueError):
        summarize(entries, group_by="color", start=start, end=end)
