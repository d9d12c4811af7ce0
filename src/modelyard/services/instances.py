"""Model instances as users see them: the live ones and the record of past boots."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelyard.accounts import Account
from modelyard.core.errors import NotFound
from modelyard.core.timeutil import isoformat, utcnow
from modelyard.runtime.pools import InstanceInfo
from modelyard.services.catalog import can_see
from modelyard.store import instances as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 200
RECORDS_KEPT = timedelta(days=30)


async def record(platform: Platform, info: InstanceInfo) -> None:
    """Write what the scheduler reports about an instance to its boot record."""
    values: dict[str, Any] = dict(
        id=info.id,
        queue=info.queue,
        version=info.version,
        model=info.model,
        deployment=info.deployment,
        hardware=info.hardware,
        gpus=list(info.gpus),
        owners=sorted(info.owners),
        state=info.state,
        pid=info.pid,
        predictions=info.predictions,
        setup_seconds=info.setup_seconds,
        stop_reason=info.stop_reason,
        started_at=info.started_at,
        ready_at=info.ready_at,
        stopped_at=info.stopped_at,
        worker=platform.worker_name,
    )
    if info.setup_logs is not None:
        values["setup_logs"] = info.setup_logs
    if info.error is not None:
        values["error"] = info.error
    async with platform.db.begin() as conn:
        await store.save_instance(conn, **values)


async def close_stale_records(platform: Platform) -> None:
    """At start: close the records of instances of the last process, forget old ones."""
    async with platform.db.begin() as conn:
        closed = await store.close_unfinished(conn, utcnow())
        await store.delete_stopped_before(conn, utcnow() - RECORDS_KEPT)
    if closed:
        logger.info("closed %d instance records left by a previous process", closed)


def _visible(platform: Platform, account: Account, owners: Any) -> bool:
    if account.username == platform.settings.owner:
        return True  # the installation's owner sees every instance
    return any(can_see(account, owner, "private") for owner in owners)


def render_live(info: InstanceInfo, worker: str | None) -> dict[str, Any]:
    return {
        "id": info.id,
        "worker": worker,
        "model": info.model,
        "version": info.version,
        "deployment": info.deployment,
        "hardware": info.hardware,
        "gpu_indexes": list(info.gpus),
        "state": info.state,
        "pid": info.pid,
        "started_at": isoformat(info.started_at),
        "ready_at": isoformat(info.ready_at),
        "stopped_at": None,
        "uptime": round(info.uptime, 3),
        "setup_time": info.setup_seconds,
        "predictions_served": info.predictions,
        "stop_reason": None,
        "error": None,
    }


def render_record(row: dict[str, Any]) -> dict[str, Any]:
    started = _aware(row["started_at"])
    end = _aware(row["stopped_at"]) if row["stopped_at"] else datetime.now(UTC)
    return {
        "id": row["id"],
        "worker": row.get("worker"),
        "model": row["model"],
        "version": row["version"],
        "deployment": row["deployment"],
        "hardware": row["hardware"],
        "gpu_indexes": list(row["gpus"] or []),
        "state": row["state"],
        "pid": row["pid"],
        "started_at": isoformat(started),
        "ready_at": isoformat(row["ready_at"]),
        "stopped_at": isoformat(row["stopped_at"]),
        "uptime": round(max(0.0, (end - started).total_seconds()), 3),
        "setup_time": row["setup_seconds"],
        "predictions_served": row["predictions"],
        "stop_reason": row["stop_reason"],
        "error": row["error"],
    }


async def list_instances(
    platform: Platform, account: Account, *, include_stopped: bool = False
) -> list[dict[str, Any]]:
    """Live instances the caller may see, oldest first; with `include_stopped`, past ones too."""
    live = [i for i in platform.scheduler.instances() if _visible(platform, account, i.owners)]
    results = [
        render_live(i, platform.worker_name) for i in sorted(live, key=lambda i: i.started_at)
    ]
    seen = {i.id for i in live}
    if platform.role == "api":  # the workers' instances, from the records they keep
        async with platform.db.connect() as conn:
            rows = await store.list_running_instances(conn)
        results += [
            render_record(r) for r in rows if _visible(platform, account, r["owners"] or [])
        ]
        seen |= {r["id"] for r in rows}
    if include_stopped:
        async with platform.db.connect() as conn:
            rows = await store.list_instances(conn, limit=HISTORY_LIMIT)
        past = [
            render_record(r)
            for r in reversed(rows)
            if r["id"] not in seen and _visible(platform, account, r["owners"] or [])
        ]
        results = past + results
    return results


async def get_instance(platform: Platform, account: Account, instance_id: str) -> dict[str, Any]:
    """One instance, live or past, with its setup logs; NotFound when the caller cannot see it."""
    async with platform.db.connect() as conn:
        row = await store.find_instance(conn, instance_id)
    live = {i.id: i for i in platform.scheduler.instances()}.get(instance_id)
    if live is not None and _visible(platform, account, live.owners):
        body = render_live(live, platform.worker_name)
    elif row is not None and _visible(platform, account, row["owners"] or []):
        body = render_record(row)
    else:
        raise NotFound("The requested instance was not found.")
    body["setup_logs"] = (row or {}).get("setup_logs") or ""
    return body


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
