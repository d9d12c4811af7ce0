"""What happens to a prediction while it runs: the scheduler's sink, writing to store and bus."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import mimetypes
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from modelyard.core.errors import ModelyardError
from modelyard.core.states import Status, transition
from modelyard.core.timeutil import utcnow
from modelyard.events import DONE, ERROR, LOGS, OUTPUT
from modelyard.files.storage import StorageFull
from modelyard.runtime.instance import Done, Log, Output
from modelyard.runtime.pools import InstanceInfo, PoolConfig
from modelyard.runtime.scheduler import Job
from modelyard.services import instances, placement, trained
from modelyard.services.urls import FILE_MARKER, file_marker
from modelyard.store import billing as billing_store
from modelyard.store import predictions as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

FLUSH_EVERY = 0.1
FINAL_ROWS_KEPT = 1000
NO_SPACE = (
    "There was no space left to store the output of this prediction, so it failed. "
    "Run it again once the platform's operator has freed disk space."
)


@dataclass
class _Live:
    """A running prediction's output and logs, flushed to the store every FLUSH_EVERY seconds."""

    iterator: bool
    created_at: datetime
    started_at: datetime
    row: dict[str, Any] = field(default_factory=dict, repr=False)
    logs: list[str] = field(default_factory=list)
    output: list[Any] = field(default_factory=list)
    dirty: bool = False
    uploads: set[str] = field(default_factory=set)  # storage keys its instance uploaded


class Execution:
    """Implements the scheduler's JobSink against the store, the event bus and file storage."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.live: dict[str, _Live] = {}
        # Rows of predictions created by this process, so the hot path needs no reads.
        self.accepted: dict[str, dict[str, Any]] = {}
        self._prepared: dict[str, tuple[bool, dict[str, Any]]] = {}  # iterator?, row
        self.final_rows: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._flusher: asyncio.Task[None] | None = None
        self._no_space: set[str] = set()  # running predictions an output could not be stored for

    async def config_for(self, queue: str) -> PoolConfig:
        """The version, hardware and instance bounds of a version or deployment queue."""
        return await placement.pool_config(self.platform, queue)

    async def instance_changed(self, info: InstanceInfo) -> None:
        await instances.record(self.platform, info)

    def accept(self, row: dict[str, Any]) -> None:
        """A prediction this process just created and queued."""
        self.accepted[row["id"]] = row

    async def prepare(self, prediction_id: str) -> Job | None:
        row = self.accepted.pop(prediction_id, None)
        async with self.platform.db.connect() as conn:
            if row is None:  # queued by an earlier process
                row = await store.find_prediction(conn, prediction_id)
                if row is None or row["status"] != Status.STARTING.value:
                    return None
            info = await self.platform.catalog.by_pk(conn, row["version_pk"])
        training = row.get("kind") == trained.TRAINING
        self._prepared[prediction_id] = (info.is_iterator and not training, row)
        try:
            job_input = await self.platform.inputs.for_model(
                prediction_id,
                row["input"],
                trained.as_training(info).schema if training else info.schema,
                row["account_id"],
            )
            # Secret inputs are stored redacted: the instance alone gets the real values.
            job_input = self.platform.secret_inputs.reveal(job_input, row.get("secret_input"))
        except ModelyardError as exc:
            from modelyard.services.predictions import finish_unstarted

            await finish_unstarted(self.platform, prediction_id, Status.FAILED, error=exc.detail)
            return None
        if training:
            return Job(
                prediction_id,
                job_input,
                kind=trained.TRAINING,
                timeout=self.platform.settings.training_timeout,
            )
        timeout = await placement.prediction_timeout(self.platform, row, info)
        return Job(prediction_id=prediction_id, input=job_input, timeout=timeout)

    async def started(self, prediction_id: str, instance_id: str) -> bool:
        """Mark the prediction processing; False if it was canceled meanwhile (do not run it)."""
        now = utcnow()
        iterator, row = self._prepared.pop(prediction_id)
        transition(Status.STARTING, Status.PROCESSING)
        values = dict(status=Status.PROCESSING.value, started_at=now, instance_id=instance_id)
        if row.get("secret_input"):
            values["secret_input"] = None  # handed to its instance: the sealed secrets go
        if self.platform.worker_name is not None:  # cluster: the leader fails it if we are lost
            values["worker"] = self.platform.worker_name
        async with self.platform.db.begin() as conn:
            if not await store.update_if_status(
                conn, prediction_id, Status.STARTING.value, **values
            ):
                return False
        self.live[prediction_id] = _Live(
            iterator=iterator,
            created_at=_aware(row["created_at"]),
            started_at=now,
            row={**row, **values},
        )
        logger.info("prediction %s processing on %s", prediction_id, instance_id)
        self.platform.bus.publish(prediction_id, "status", {"status": "processing"})
        self._ensure_flusher()
        return True

    async def redelivered(self, prediction_id: str, instance_id: str) -> bool:
        """The prediction goes to another instance (its first one died before it ran)."""
        if prediction_id not in self.live:
            return False
        async with self.platform.db.begin() as conn:
            moved = await store.update_if_status(
                conn, prediction_id, Status.PROCESSING.value, instance_id=instance_id
            )
        if moved:
            self.live[prediction_id].row["instance_id"] = instance_id
            logger.info("prediction %s moved to %s", prediction_id, instance_id)
        return bool(moved)

    def storage_full(self, key: str) -> None:
        """The storage refused to write `key` for want of space: its prediction will fail."""
        parts = key.split("/")
        if len(parts) > 2 and parts[0] == "predictions" and parts[1] in self.live:
            self._no_space.add(parts[1])

    async def event(self, prediction_id: str, event: Any) -> None:
        live = self.live.get(prediction_id)
        if live is None:
            return
        if isinstance(event, Log):
            live.logs.append(event.text)
            live.dirty = True
            self.platform.bus.publish(prediction_id, LOGS, event.text)
            await self.platform.webhooks.notify(prediction_id, "logs")
        elif isinstance(event, Output) and live.iterator:
            value = await self._store_files(prediction_id, event.value, live.uploads)
            live.output.append(value)
            live.dirty = True
            self.platform.bus.publish(prediction_id, OUTPUT, value)
            await self.platform.webhooks.notify(prediction_id, "output")

    async def snapshot(self, prediction_id: str) -> dict[str, Any]:
        """The stored prediction with the live output and logs of a running one laid over it."""
        async with self.platform.db.connect() as conn:
            row = await store.find_prediction(conn, prediction_id)
        assert row is not None
        live = self.live.get(prediction_id)
        if live is not None and row["status"] == Status.PROCESSING.value:
            row["logs"] = "".join(live.logs)
            if live.iterator:
                row["output"] = list(live.output)
        return row

    async def finished(self, prediction_id: str, done: Done) -> None:
        live = self.live.pop(prediction_id, None)
        if live is None:
            logger.warning("prediction %s finished but was not running here", prediction_id)
            return
        logs = "".join(live.logs) if live.logs else (done.logs or "")
        if live.iterator:
            output: Any = live.output
            if isinstance(done.output, list) and len(done.output) > len(live.output):
                # Items the stream did not carry (should not happen, but never lose output).
                rest = [
                    await self._store_files(prediction_id, v, live.uploads)
                    for v in done.output[len(live.output) :]
                ]
                for item in rest:
                    self.platform.bus.publish(prediction_id, OUTPUT, item)
                output = live.output + rest
        else:
            output = await self._store_files(prediction_id, done.output, live.uploads)
            if done.status == Status.SUCCEEDED.value and output is not None:
                self.platform.bus.publish(prediction_id, OUTPUT, output)
        status, error = Status(done.status), done.error
        if prediction_id in self._no_space:  # an output file could not be stored
            self._no_space.discard(prediction_id)
            status, error, output = Status.FAILED, NO_SPACE, None
        if status == Status.SUCCEEDED and live.row.get("kind") == trained.TRAINING:
            status, output, error = await trained.publish(self.platform, live.row, output)
        await self._finish(
            prediction_id,
            status,
            output=output,
            logs=logs,
            error=error,
            metrics=done.metrics or {},
            live=live,
        )

    async def abandoned(self, prediction_id: str, error: str, logs: str = "") -> None:
        """The prediction cannot run (setup failed, timed out, instance gone): it fails."""
        live = self.live.pop(prediction_id, None)
        self._prepared.pop(prediction_id, None)
        self._no_space.discard(prediction_id)
        if live is None:
            from modelyard.services.predictions import finish_unstarted

            await finish_unstarted(
                self.platform, prediction_id, Status.FAILED, error=error, logs=logs
            )
            return
        await self._finish(
            prediction_id,
            Status.FAILED,
            output=live.output if live.iterator else None,
            logs="".join(live.logs) + logs,
            error=error,
            metrics={},
            live=live,
        )

    async def _finish(
        self,
        prediction_id: str,
        status: Status,
        *,
        output: Any,
        logs: str,
        error: str | None,
        metrics: dict[str, Any],
        live: _Live,
    ) -> None:
        transition(Status.PROCESSING, status)
        now = utcnow()
        metrics = {k: v for k, v in metrics.items() if k != "predict_time"}
        metrics["predict_time"] = round((now - live.started_at).total_seconds(), 6)
        metrics["total_time"] = round((now - live.created_at).total_seconds(), 6)
        charge = self.platform.meter.prediction_entry(live.row, metrics["predict_time"])
        values = dict(
            status=status.value,
            output=output,
            logs=logs,
            error=error,
            metrics=metrics,
            completed_at=now,
            cost_usd=charge["usd"],
        )
        # The terminal write must land even if the caller is cancelled meanwhile.
        if not await asyncio.shield(self._write_terminal(prediction_id, values, charge)):
            return
        self.platform.meter.recorded(charge)
        self.final_rows[prediction_id] = {**live.row, **values}
        while len(self.final_rows) > FINAL_ROWS_KEPT:
            self.final_rows.popitem(last=False)
        if status == Status.FAILED:
            self.platform.bus.publish(
                prediction_id, ERROR, {"detail": error or "Prediction failed"}
            )
        self.platform.bus.publish(prediction_id, DONE, {"status": status.value})
        await self.platform.webhooks.notify(prediction_id, "completed")
        logger.info(
            "prediction %s %s in %.3fs", prediction_id, status.value, metrics["predict_time"]
        )

    async def _write_terminal(
        self, prediction_id: str, values: dict[str, Any], charge: dict[str, Any]
    ) -> bool:
        """The terminal state and its ledger entry, in one transaction."""
        async with self.platform.db.begin() as conn:
            if not await store.update_if_status(
                conn, prediction_id, Status.PROCESSING.value, **values
            ):
                return False
            await billing_store.add_entry(conn, **charge)
            return True

    # -- instance lifecycle (the scheduler's InstanceHooks) --------------------------------------

    async def on_instance_started(self, pool: Any, instance: Any, seconds: float) -> None:
        """An instance booted in `seconds`: billed setup time for private models."""
        await self.platform.instance_billing.started(pool.queue, instance.id, seconds)

    async def on_instance_stopped(self, pool: Any, instance: Any, seconds: float) -> None:
        """An instance is gone after `seconds` of life: billed idle time for private models."""
        await self.platform.instance_billing.stopped(pool.queue, instance.id, seconds)

    # -- live flushing -------------------------------------------------------------------------

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self.live:
            await asyncio.sleep(FLUSH_EVERY)
            dirty = [(pid, live) for pid, live in list(self.live.items()) if live.dirty]
            if not dirty:
                continue
            async with self.platform.db.begin() as conn:
                for pid, live in dirty:
                    live.dirty = False
                    values: dict[str, Any] = {"logs": "".join(live.logs)}
                    if live.iterator:
                        values["output"] = list(live.output)
                    await store.update_if_status(conn, pid, Status.PROCESSING.value, **values)

    # -- files ---------------------------------------------------------------------------------

    def uploads_for(self, prediction_id: str) -> set[str] | None:
        """The keys uploaded for a prediction processing here (add to it); None if not running."""
        live = self.live.get(prediction_id)
        return None if live is None else live.uploads

    async def _store_files(self, prediction_id: str, value: Any, uploads: set[str]) -> Any:
        """Map URLs of files uploaded for this prediction to stored-file markers, and store data:
        URLs coglet left inline. Any other string (a URL of another key, a forged marker) stays
        as it is, so it is never signed."""
        if isinstance(value, str):
            prefix = self.platform.internal_files_prefix
            if value.startswith(prefix):
                key = unquote(value[len(prefix) :])
                return file_marker(self.platform.secret, key) if key in uploads else value
            if value.startswith("data:") and ";base64," in value[:200]:
                return await self._store_data_url(prediction_id, value) or value
            return value
        if isinstance(value, list):
            return [await self._store_files(prediction_id, v, uploads) for v in value]
        if isinstance(value, dict):
            return {k: await self._store_files(prediction_id, v, uploads) for k, v in value.items()}
        return value

    async def _store_data_url(self, prediction_id: str, value: str) -> str | None:
        header, _, payload = value.partition(",")
        mime = header[5:].split(";", 1)[0] or "application/octet-stream"
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
        ext = mimetypes.guess_extension(mime) or ".bin"
        key = f"predictions/{prediction_id}/output-{secrets.token_hex(4)}{ext}"
        try:
            await self.platform.storage.put(key, data)
        except StorageFull:
            self._no_space.add(prediction_id)  # it fails when it ends
            return None
        return file_marker(self.platform.secret, key)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


__all__ = ["Execution", "FILE_MARKER"]
