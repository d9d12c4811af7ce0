"""Predictions accepted while their version's environment is still being built.

A prediction on a model whose only version is building (the built-in catalog at first start,
a push in flight) is stored as `starting` with its whole input sealed (no schema yet to say
which inputs are secret), shows the build's progress in its `logs`, and is validated and
queued once the version is ready; if the build fails, the prediction fails with its error.
The process that runs the build releases the predictions waiting on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import InvalidInput, ModelyardError
from modelyard.core.states import Status
from modelyard.events import LOGS
from modelyard.queue import QueueItem
from modelyard.store import accounts as accounts_store
from modelyard.store import models as models_store
from modelyard.store import predictions as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

HEADER = "Waiting for this model's environment to be built (it runs once the build is done).\n"
LOG_LINES_SHOWN = 200
FLUSH_EVERY = 0.5
INTERRUPTED = (
    "The build of this model's version was interrupted by a restart of the platform; push the "
    "model again and rerun the prediction."
)


@dataclass
class _Build:
    lines: list[str] = field(default_factory=list)
    waiting: set[str] = field(default_factory=set)  # predictions created here, for live logs
    dirty: bool = False
    flusher: asyncio.Task[None] | None = None


class PendingBuilds:
    """Builds in flight in this process and the predictions waiting on them."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._builds: dict[int, _Build] = {}
        self._released: set[str] = set()

    def started(self, version_pk: int) -> None:
        """A build of this version began in this process."""
        self._builds.setdefault(version_pk, _Build())

    def log(self, version_pk: int, line: str) -> None:
        """One line of the build's log: shown in every waiting prediction's logs."""
        build = self._builds.get(version_pk)
        if build is None:
            return
        build.lines.append(line)
        build.dirty = True
        for prediction_id in build.waiting:
            self.platform.bus.publish(prediction_id, LOGS, line + "\n")
        if build.flusher is None or build.flusher.done():
            build.flusher = asyncio.ensure_future(self._flush_loop(version_pk, build))

    def logs_text(self, version_pk: int) -> str:
        build = self._builds.get(version_pk)
        lines = build.lines[-LOG_LINES_SHOWN:] if build else []
        return HEADER + "".join(line + "\n" for line in lines)

    async def hold(self, row: dict[str, Any]) -> None:
        """A prediction stored on a building version: it waits, or runs if the build just
        ended meanwhile."""
        build = self._builds.get(row["version_pk"])
        if build is not None:
            build.waiting.add(row["id"])
            return
        async with self.platform.db.connect() as conn:
            version = await models_store.find_version_by_pk(conn, row["version_pk"])
        if version is not None and version["status"] == "ready":
            await self._release_one(row["id"])
        elif version is None or version["status"] == "failed":
            await self.fail([row["id"]], (version or {}).get("error") or INTERRUPTED)
        # else: another process builds it and releases it when done.

    async def ready(self, version_pk: int) -> None:
        """The build succeeded: validate and queue everything waiting on it."""
        build = self._builds.pop(version_pk, None)
        await self._stop_flusher(build)
        for prediction_id in await self._waiting(version_pk):
            await self._release_one(prediction_id)

    async def failed(self, version_pk: int, error: str) -> None:
        """The build failed: what waited on it fails with the build's error."""
        build = self._builds.pop(version_pk, None)
        await self._stop_flusher(build)
        await self.fail(await self._waiting(version_pk), error)

    async def _waiting(self, version_pk: int) -> list[str]:
        async with self.platform.db.connect() as conn:
            return await store.list_starting_of_version(conn, version_pk)

    async def fail(self, prediction_ids: list[str], error: str) -> None:
        """End waiting predictions as failed with `error`."""
        from modelyard.services.predictions import finish_unstarted

        for prediction_id in prediction_ids:
            await finish_unstarted(self.platform, prediction_id, Status.FAILED, error=error)

    async def _release_one(self, prediction_id: str) -> None:
        if prediction_id in self._released:
            return
        self._released.add(prediction_id)
        platform = self.platform
        async with platform.db.connect() as conn:
            row = await store.find_prediction(conn, prediction_id)
            if row is None or row["status"] != Status.STARTING.value:
                return
            info = await platform.catalog.by_pk(conn, row["version_pk"])
            account = await accounts_store.find_account_by_id(conn, row["account_id"])
        try:
            raw = platform.secret_inputs.reveal(dict(row["input"]), row["secret_input"])
            cleaned = info.schema.clean(raw)
            await platform.inputs.check(cleaned, info.schema, row["account_id"])
        except ModelyardError as exc:
            await self.fail([prediction_id], exc.detail)
            return
        sealed = None
        if info.schema.secret_fields:
            cleaned, sealed = platform.secret_inputs.seal(cleaned, info.schema.secret_fields)
        values: dict[str, Any] = dict(input=cleaned, secret_input=sealed)
        async with platform.db.begin() as conn:
            if not await store.update_if_status(
                conn, prediction_id, Status.STARTING.value, **values
            ):
                return
        row.update(values)
        platform.execution.accept(row)
        owner = account["username"] if account else ""
        await platform.queue.enqueue(QueueItem(prediction_id, info.queue, owner, time.time()))
        logger.info("prediction %s queued: its version %s is built", prediction_id, info.id)

    async def _flush_loop(self, version_pk: int, build: _Build) -> None:
        while build.dirty:
            build.dirty = False
            await self._write_logs(version_pk)
            await asyncio.sleep(FLUSH_EVERY)

    async def _write_logs(self, version_pk: int) -> None:
        async with self.platform.db.begin() as conn:
            await store.update_starting_logs(conn, version_pk, self.logs_text(version_pk))

    async def _stop_flusher(self, build: _Build | None) -> None:
        if build is not None and build.flusher is not None:
            build.flusher.cancel()


async def recover(platform: Platform, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At start: the `starting` predictions to queue again. Those waiting on a build that
    died with the last process fail, unless the built-in catalog is about to rebuild it."""
    queued: list[dict[str, Any]] = []
    interrupted: list[str] = []
    async with platform.db.connect() as conn:
        versions: dict[int, dict[str, Any] | None] = {}
        for row in rows:
            pk = row["version_pk"]
            if pk not in versions:
                versions[pk] = await models_store.find_version_by_pk(conn, pk)
            version = versions[pk]
            if row["status"] != Status.STARTING.value or (version or {}).get("status") == "ready":
                queued.append(row)
            elif not (platform.settings.register_builtin_models and _builtin(row["model"])):
                interrupted.append(row["id"])
    await platform.pending_builds.fail(interrupted, INTERRUPTED)
    if platform.settings.redis_url is None:  # one process: every build recorded died with it
        async with platform.db.begin() as conn:
            for version in await models_store.list_building_versions(conn):
                if not (platform.settings.register_builtin_models and _builtin(version["owner"])):
                    await models_store.update_version(
                        conn, version["pk"], status="failed", error=INTERRUPTED
                    )
    return queued


def _builtin(model_or_owner: str) -> bool:
    from modelyard.services.platform import CATALOG_OWNER

    return model_or_owner.partition("/")[0] == CATALOG_OWNER


def seal_input(platform: Platform, raw: Any) -> tuple[dict[str, Any], str | None]:
    """The input of a prediction on a building version: every value sealed until the schema
    says which are secret, so none is stored in clear meanwhile."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(
            "The input must be a JSON object.", [{"field": "input", "message": "must be an object"}]
        )
    return platform.secret_inputs.seal(raw, list(raw))
