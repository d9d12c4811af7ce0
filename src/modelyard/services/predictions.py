"""Prediction use cases: create, read, list, cancel, and the JSON a client sees."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from modelyard.accounts import Account
from modelyard.core import cursors, ids
from modelyard.core.errors import BadRequest, NotFound
from modelyard.core.shapes import Prediction, PredictionUrls
from modelyard.core.states import Status, transition
from modelyard.core.timeutil import isoformat, parse_iso, utcnow
from modelyard.events import DONE
from modelyard.queue import QueueItem, QueueUnavailable
from modelyard.services import pending_builds
from modelyard.services.catalog import VersionInfo
from modelyard.services.urls import Urls
from modelyard.store import predictions as store
from modelyard.store import workers as workers_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

PAGE_SIZE = 100


class CreatePrediction(BaseModel):
    """The body of the three create endpoints; unknown keys are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    version: Any = None
    input: dict[str, Any] | None = None
    webhook: str | None = None
    webhook_completed: str | None = None
    webhook_events_filter: list[str] | None = None
    stream: bool | None = None


@dataclass(frozen=True)
class Created:
    row: dict[str, Any]
    version: VersionInfo


async def create_prediction(
    platform: Platform,
    account: Account,
    version: VersionInfo,
    body: CreatePrediction,
    *,
    source: str = "api",
    deployment: str | None = None,
    hardware: str | None = None,
    queue: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Created:
    """Validate, persist as `starting`, enqueue; bad input raises before anything is stored.

    `queue` (a deployment's) replaces the version's own queue.
    `hardware` (a deployment's) overrides the model's for billing. Raises BillingRequired (402)
    in credit mode once the caller's credit is used up.
    """
    platform.check_accepting()  # 503 while the platform shuts down
    await platform.meter.ensure_can_run(account.id)
    if version.building:  # no schema yet: the input is checked once the version is built
        cleaned, sealed = pending_builds.seal_input(platform, body.input)
    else:
        cleaned = version.schema.clean(body.input)
        await platform.inputs.check(cleaned, version.schema, account.id)
    events_filter = await platform.webhooks.check_request(body)
    if not version.building:
        sealed = None
        if version.schema.secret_fields:
            cleaned, sealed = platform.secret_inputs.seal(cleaned, version.schema.secret_fields)
    prediction_id = ids.new_prediction_id()
    now = utcnow()
    row: dict[str, Any] = dict(
        id=prediction_id,
        account_id=account.id,
        model_id=version.model_id,
        version_pk=version.pk,
        model=version.model,
        version=version.id,
        deployment=deployment,
        input=cleaned,
        output=None,
        logs=platform.pending_builds.logs_text(version.pk) if version.building else "",
        error=None,
        status=Status.STARTING.value,
        metrics={},
        source=source,
        webhook=body.webhook or body.webhook_completed,
        webhook_events_filter=events_filter,
        stream_token=ids.new_capability() if version.is_iterator or version.building else None,
        data_removed=False,
        created_at=now,
        started_at=None,
        completed_at=None,
        instance_id=None,
        hardware=hardware or version.hardware,
        cost_usd=None,
        secret_input=sealed,
    )
    row.update(extra or {})  # a training's kind and destination
    async with platform.db.begin() as conn:
        await store.create_prediction(conn, **row)
    platform.bus.open(prediction_id)
    if version.building:
        await platform.pending_builds.hold(row)
    else:
        platform.execution.accept(row)
        try:
            await platform.queue.enqueue(
                QueueItem(
                    prediction_id,
                    queue or version.queue,
                    account.username,
                    time.time(),
                    hardware=row["hardware"],
                )
            )
        except QueueUnavailable:  # accepted all the same: the row is the prediction
            logger.warning("prediction %s waits: the leader enqueues it", prediction_id)
    logger.info("prediction %s created on %s (starting)", prediction_id, version.model)
    platform.webhooks.register(prediction_id, row["webhook"], events_filter)
    await platform.webhooks.notify(prediction_id, "start")
    return Created(row=row, version=version)


async def final_prediction(
    platform: Platform, account: Account, prediction_id: str
) -> dict[str, Any]:
    """A prediction that has just finished: from memory when this process finished it."""
    row = platform.execution.final_rows.get(prediction_id)
    if row is not None and account.sees(row["account_id"]):
        return row
    return await get_prediction(platform, account, prediction_id)


async def get_prediction(
    platform: Platform, account: Account, prediction_id: str
) -> dict[str, Any]:
    async with platform.db.connect() as conn:
        row = await store.find_prediction(conn, prediction_id)
    if row is None or not account.sees(row["account_id"]):
        raise NotFound("The requested prediction was not found.")
    return row


async def find_prediction(platform: Platform, prediction_id: str) -> dict[str, Any] | None:
    async with platform.db.connect() as conn:
        return await store.find_prediction(conn, prediction_id)


async def cancel_prediction(
    platform: Platform, account: Account, prediction_id: str
) -> dict[str, Any]:
    """Cancel a waiting or running prediction; a finished one is returned unchanged."""
    row = await get_prediction(platform, account, prediction_id)
    if Status(row["status"]).terminal:
        return row
    if await platform.queue.remove(prediction_id) or row["status"] == Status.STARTING.value:
        if await finish_unstarted(platform, prediction_id, Status.CANCELED, error=None):
            platform.scheduler.forget(prediction_id)
            return await get_prediction(platform, account, prediction_id)
    await platform.scheduler.cancel(prediction_id)
    await platform.bus.wait_done(prediction_id, timeout=platform.settings.cancel_grace + 5)
    return await get_prediction(platform, account, prediction_id)


async def finish_unstarted(
    platform: Platform,
    prediction_id: str,
    status: Status,
    *,
    error: str | None,
    logs: str | None = None,
) -> bool:
    """End a prediction that never reached an instance. False if it had moved on meanwhile."""
    transition(Status.STARTING, status)
    now = utcnow()
    values: dict[str, Any] = dict(
        status=status.value,
        error=error,
        completed_at=now,
        metrics={"predict_time": 0.0},
        cost_usd=0.0,
        secret_input=None,
    )
    if logs is not None:
        values["logs"] = logs
    async with platform.db.begin() as conn:
        row = await store.find_prediction(conn, prediction_id)
        if row is None:
            return False
        values["metrics"]["total_time"] = (now - _aware(row["created_at"])).total_seconds()
        changed = await store.update_if_status(conn, prediction_id, Status.STARTING.value, **values)
    platform.execution.accepted.pop(prediction_id, None)
    if changed:
        if error:
            platform.bus.publish(prediction_id, "error", {"detail": error})
        platform.bus.publish(prediction_id, DONE, {"status": status.value})
        await platform.webhooks.notify(prediction_id, "completed")
        logger.info("prediction %s %s before it started", prediction_id, status.value)
    return changed


async def finish_running_after_crash(
    platform: Platform, row: dict[str, Any], error: str, *, worker: str | None = None
) -> bool:
    """A prediction whose process died while running it fails, saying so; False if it had
    ended meanwhile. `worker`: only while that (lost) worker still holds it, and its waiters,
    streams and `completed` webhook hear of it, as other processes serve them."""
    now = utcnow()
    transition(row["status"], Status.FAILED)
    started = _aware(row["started_at"]) if row["started_at"] else now
    metrics = {
        "predict_time": (now - started).total_seconds(),
        "total_time": (now - _aware(row["created_at"])).total_seconds(),
    }
    values: dict[str, Any] = dict(
        status=Status.FAILED.value, error=error, completed_at=now, metrics=metrics
    )
    async with platform.db.begin() as conn:
        if worker is None:
            changed = await store.update_if_status(
                conn, row["id"], Status.PROCESSING.value, **values
            )
        else:
            changed = await workers_store.end_running_on(conn, worker, row["id"], **values)
    if changed and worker is not None:
        platform.bus.publish(row["id"], "error", {"detail": error})
        platform.bus.publish(row["id"], DONE, {"status": Status.FAILED.value})
        await platform.webhooks.notify(row["id"], "completed")
    logger.info("prediction %s failed: its process stopped while it ran", row["id"])
    return changed


async def requeue(platform: Platform, row: dict[str, Any], owner: str) -> None:
    """Put a `starting` prediction (back) on its queue; a no-op when it is already there."""
    queue = None
    if row["deployment"]:
        from modelyard.services.deployments import queue_of

        queue = await queue_of(platform, row["deployment"])
    await platform.queue.enqueue(
        QueueItem(
            prediction_id=row["id"],
            queue=queue or f"{_queue_kind(row)}:{row['version_pk']}",
            owner=owner,
            enqueued_at=_aware(row["created_at"]).timestamp(),
            hardware=row.get("hardware") or "",
        )
    )


def _queue_kind(row: dict[str, Any]) -> str:
    """A training waits on its version's training queue (see services/trained.py)."""
    return "training" if row.get("kind") == "training" else "version"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def encode_cursor(row: dict[str, Any]) -> str:
    return cursors.encode(f"{isoformat(row['created_at'])}|{row['id']}")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    ts, _, pid = cursors.decode(cursor).partition("|")
    try:
        return parse_iso(ts).astimezone(UTC), pid
    except (ValueError, OverflowError) as exc:
        raise BadRequest(cursors.INVALID) from exc


async def list_predictions(
    platform: Platform,
    account: Account,
    *,
    cursor: str | None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    source: str | None = None,
    kind: str | None = "prediction",
    model: str | None = None,
    status: str | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page (newest first) and the cursor of the next page, if any."""
    before = decode_cursor(cursor) if cursor else None
    async with platform.db.connect() as conn:
        rows = await store.list_predictions(
            conn,
            account_ids=list(account.account_ids),
            before=before,
            limit=limit + 1,
            created_after=created_after,
            created_before=created_before,
            source=source,
            kind=kind,
            model=model,
            status=status,
        )
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def render_prediction(
    row: dict[str, Any], urls: Urls, *, sync_unfinished: bool = False
) -> dict[str, Any]:
    """The prediction object exactly as GET returns it.

    `sync_unfinished`: a `Prefer: wait` response for a prediction that has not finished says
    `starting` with a null output, as the official clients require.
    """
    links = urls.prediction(row["id"])
    if row.get("stream_token"):
        links["stream"] = urls.stream(row["id"], row["stream_token"])
    status = row["status"]
    output = urls.render_output(row["output"])
    if sync_unfinished and not Status(status).terminal:
        status, output = Status.STARTING.value, None
    return Prediction(
        id=row["id"],
        model=row["model"],
        version=row["version"],
        input=urls.render_output(row["input"]) or {},
        output=output,
        logs=row["logs"] or "",
        error=row["error"],
        status=status,
        created_at=isoformat(row["created_at"]) or "",
        started_at=isoformat(row["started_at"]),
        completed_at=isoformat(row["completed_at"]),
        urls=PredictionUrls(**links),
        metrics=row["metrics"] or {},
        data_removed=bool(row["data_removed"]),
        source=row["source"],
        deployment=row["deployment"],
        webhook=row["webhook"],
        webhook_events_filter=row["webhook_events_filter"],
        instance_id=row.get("instance_id"),
        cost_usd=row.get("cost_usd"),
    ).to_json()
