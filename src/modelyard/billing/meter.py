"""Metering: what each prediction and each billed instance costs, and account balances.

Public-model predictions cost `predict_time × price` of their hardware. Private models and
deployments are billed for their instances' whole time: each prediction's busy time as above,
plus a `setup` entry when an instance has booted and an `idle` entry when it stops (its
lifetime less setup and busy time), charged to the model's or deployment's owner.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from modelyard.billing.prices import PriceTable
from modelyard.core.errors import BillingRequired
from modelyard.core.timeutil import utcnow
from modelyard.store import billing as store
from modelyard.store.database import Database

logger = logging.getLogger(__name__)

MODES = ("metering", "credit")
BALANCE_TTL = 5.0  # seconds a positive balance is trusted without reading the ledger


@dataclass(frozen=True)
class InstanceTarget:
    """Who pays for an instance's whole time, and what its entries are recorded against."""

    account_id: int
    hardware: str
    model: str | None = None
    version: str | None = None
    deployment: str | None = None


@dataclass
class _Tracked:
    target: InstanceTarget
    setup: float
    busy: float = 0.0


@dataclass(frozen=True)
class Balance:
    account_id: int
    starting_usd: float
    credits_usd: float
    spent_usd: float

    @property
    def balance_usd(self) -> float:
        return round(self.starting_usd + self.credits_usd - self.spent_usd, 12)


@dataclass
class Meter:
    """Prices charges, writes instance entries, and keeps balances for credit mode."""

    db: Database
    prices: PriceTable
    mode: str = "metering"
    starting_credit: float = 5.0
    _instances: dict[str, _Tracked] = field(default_factory=dict)
    _balances: dict[int, tuple[float, float]] = field(default_factory=dict)  # id -> (usd, at)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError("--billing must be `metering` or `credit`.")

    # -- predictions -----------------------------------------------------------------------------

    def prediction_entry(self, row: dict[str, Any], predict_time: float) -> dict[str, Any]:
        """The ledger entry of a finished prediction (its `usd` is the prediction's cost_usd)."""
        hardware = row.get("hardware") or "cpu"
        price = self.prices.per_second(hardware)
        return dict(
            account_id=row["account_id"],
            kind=row.get("kind") or "prediction",  # or "training"
            prediction_id=row["id"],
            model=row.get("model"),
            version=row.get("version"),
            deployment=row.get("deployment"),
            instance_id=row.get("instance_id"),
            hardware=hardware,
            seconds=predict_time,
            unit_price=price,
            usd=round(max(0.0, predict_time) * price, 12),
            created_at=utcnow(),
        )

    def recorded(self, entry: dict[str, Any]) -> None:
        """An entry has been written: update the balance and the instance's busy time."""
        cached = self._balances.get(entry["account_id"])
        if cached is not None:
            self._balances[entry["account_id"]] = (cached[0] - entry["usd"], cached[1])
        tracked = self._instances.get(entry.get("instance_id") or "")
        if tracked is not None and entry["kind"] in ("prediction", "training"):
            tracked.busy += entry["seconds"]

    # -- instances -------------------------------------------------------------------------------

    async def instance_started(
        self, instance_id: str, target: InstanceTarget | None, setup_seconds: float
    ) -> None:
        """An instance has booted in `setup_seconds`; bill the setup if it is billed at all."""
        if target is None:
            return
        self._instances[instance_id] = _Tracked(target, setup_seconds)
        await self._write(self._instance_entry(target, "setup", setup_seconds, instance_id))

    async def instance_stopped(
        self, instance_id: str, target: InstanceTarget | None, lifetime_seconds: float
    ) -> None:
        """An instance is gone after `lifetime_seconds`: bill its idle time (or a failed boot)."""
        tracked = self._instances.pop(instance_id, None)
        if tracked is None:
            if target is not None:  # it never became ready: all of its time was setup
                await self._write(
                    self._instance_entry(target, "setup", lifetime_seconds, instance_id)
                )
            return
        idle = max(0.0, lifetime_seconds - tracked.setup - tracked.busy)
        await self._write(self._instance_entry(tracked.target, "idle", idle, instance_id))

    def _instance_entry(
        self, target: InstanceTarget, kind: str, seconds: float, instance_id: str
    ) -> dict[str, Any]:
        price = self.prices.per_second(target.hardware)
        return dict(
            account_id=target.account_id,
            kind=kind,
            prediction_id=None,
            model=target.model,
            version=target.version,
            deployment=target.deployment,
            instance_id=instance_id,
            hardware=target.hardware,
            seconds=round(seconds, 6),
            unit_price=price,
            usd=round(max(0.0, seconds) * price, 12),
            created_at=utcnow(),
        )

    async def _write(self, entry: dict[str, Any]) -> None:
        async with self.db.begin() as conn:
            await store.add_entry(conn, **entry)
        self.recorded(entry)
        logger.info(
            "billed %s %.3fs of %s to account %d ($%.6f)",
            entry["kind"],
            entry["seconds"],
            entry["hardware"],
            entry["account_id"],
            entry["usd"],
        )

    # -- balances --------------------------------------------------------------------------------

    async def ensure_can_run(self, account_id: int) -> None:
        """In credit mode, refuse a new prediction once the balance is used up (402)."""
        if self.mode != "credit":
            return
        now = time.monotonic()
        cached = self._balances.get(account_id)
        if cached is not None and cached[0] > 0 and now - cached[1] < BALANCE_TTL:
            return
        # A used-up balance is re-read every time, so a top-up made elsewhere counts at once.
        balance = (await self.balance(account_id)).balance_usd
        if balance <= 0:
            raise BillingRequired(
                "Your credit is used up, so new predictions cannot start (running ones "
                "finish). Ask the administrator to add credit: "
                "`modelyard credit add <username> <dollars>`."
            )

    async def balance(self, account_id: int) -> Balance:
        async with self.db.connect() as conn:
            spent = await store.total_charged(conn, account_id)
            credited = await store.total_credited(conn, account_id)
        result = Balance(account_id, self.starting_credit, credited, spent)
        self._balances[account_id] = (result.balance_usd, time.monotonic())
        return result

    def forget_balance(self, account_id: int) -> None:
        self._balances.pop(account_id, None)
