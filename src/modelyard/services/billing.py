"""Billing use cases: instance time of private models, usage reports, balances and top-ups."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelyard.accounts import Account, get_account
from modelyard.billing import GROUPS, InstanceTarget, group_key, summarize
from modelyard.core.errors import BadRequest, NotFound
from modelyard.core.timeutil import parse_iso, utcnow
from modelyard.store import accounts as accounts_store
from modelyard.store import billing as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

TargetResolver = Callable[[str], Awaitable[InstanceTarget | None]]
MAX_CREDIT = 1_000_000.0


class InstanceBilling:
    """Decides whom an instance's setup and idle time is billed to, from its queue's name.

    `version:<pk>` queues of private models bill the model's owner; public models are not
    billed for instance time. Other queue kinds register a resolver in `resolvers`
    (e.g. deployments: `resolvers["deployment"] = async_fn(key) -> InstanceTarget | None`).
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.resolvers: dict[str, TargetResolver] = {"version": self._version_target}
        self._targets: dict[str, InstanceTarget | None] = {}

    async def started(self, queue: str, instance_id: str, seconds: float) -> None:
        try:
            target = self._targets[instance_id] = await self._target(queue)
            await self.platform.meter.instance_started(instance_id, target, seconds)
        except Exception:  # billing must never break the runtime
            logger.exception("could not bill the setup of instance %s", instance_id)

    async def stopped(self, queue: str, instance_id: str, seconds: float) -> None:
        try:
            if instance_id in self._targets:
                target = self._targets.pop(instance_id)
            else:
                target = await self._target(queue)
            await self.platform.meter.instance_stopped(instance_id, target, seconds)
        except Exception:
            logger.exception("could not bill the idle time of instance %s", instance_id)

    async def _target(self, queue: str) -> InstanceTarget | None:
        kind, _, key = queue.partition(":")
        resolver = self.resolvers.get(kind)
        return await resolver(key) if resolver is not None else None

    async def _version_target(self, key: str) -> InstanceTarget | None:
        async with self.platform.db.connect() as conn:
            info = await self.platform.catalog.by_pk(conn, int(key))
            if info.visibility == "public":
                return None
            owner = await accounts_store.find_account(conn, info.owner)
        if owner is None:
            return None
        return InstanceTarget(owner["id"], info.hardware, model=info.model, version=info.id)


def parse_range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """`start` (default: the first of this month, UTC) and `end` (exclusive; default: now)."""
    now = utcnow()
    try:
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        since = parse_iso(start) if start else first
        until = parse_iso(end) if end else now + timedelta(microseconds=1)
    except ValueError as exc:
        raise BadRequest("start and end must be ISO 8601 dates or timestamps.") from exc
    if until <= since:
        raise BadRequest("end must be later than start.")
    return since, until


async def usage(
    platform: Platform,
    account: Account,
    *,
    start: str | None,
    end: str | None,
    group_by: str | None,
    of: str | None = None,
) -> dict[str, Any]:
    """The charges to `account` (or to `of`, an organization it belongs to), summed by group."""
    group = group_by or "model"
    if group not in GROUPS:
        raise BadRequest(f"group_by must be one of: {', '.join(GROUPS)}.")
    since, until = parse_range(start, end)
    payer = account.id
    if of and of != account.username:
        payer = next((oid for oid, name in account.organizations if name == of), -1)
        if payer < 0:
            raise NotFound(f"There is no account named '{of}' that you belong to.")
    async with platform.db.connect() as conn:
        entries = await store.list_entries(conn, account_ids=[payer], start=since, end=until)
    return summarize(entries, group_by=group, start=since, end=until)


async def balance(platform: Platform, account_id: int) -> dict[str, Any]:
    meter = platform.meter
    result = await meter.balance(account_id)
    return {
        "billing": meter.mode,
        "balance_usd": result.balance_usd,
        "starting_credit_usd": result.starting_usd,
        "credits_usd": round(result.credits_usd, 12),
        "spent_usd": round(result.spent_usd, 12),
    }


async def add_credit(
    platform: Platform, username: str, amount: float, note: str | None = None
) -> dict[str, Any]:
    """Top up an account's credit by `amount` dollars; returns its new balance."""
    if not 0 < amount <= MAX_CREDIT:
        raise BadRequest(f"The amount must be more than 0 and at most {MAX_CREDIT:g} dollars.")
    async with platform.db.begin() as conn:
        target = await get_account(conn, username)
        await store.add_credit(conn, target.id, float(amount), note, utcnow())
    platform.meter.forget_balance(target.id)
    return {"username": username, **await balance(platform, target.id)}


async def daily_usage_by_model(
    platform: Platform, account: Account, *, start: str | None, end: str | None
) -> dict[str, dict[str, float]]:
    """`{day: {model: usd}}` of the caller's charges, days in order (the web usage chart)."""
    since, until = parse_range(start, end)
    async with platform.db.connect() as conn:
        entries = await store.list_entries(conn, account_ids=[account.id], start=since, end=until)
    days: dict[str, dict[str, float]] = {}
    for entry in entries:
        day = days.setdefault(group_key(entry, "day"), {})
        model = group_key(entry, "model")
        day[model] = day.get(model, 0.0) + entry["usd"]
    return dict(sorted(days.items()))
