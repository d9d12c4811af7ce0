"""Versions made by trainings: the trained version's source plus the weights a training wrote.

A succeeded training's `weights` file is copied into a copy of the trained version's source,
at `WEIGHTS_DIR/weights<ext>`, so the new version's id (the content hash of its source) covers
the weights: the same weights on the same source are the same version. The new version
reuses the trained version's built environment and schema, and its instances get the file as
COG_WEIGHTS (an absolute path their sandbox can read: the source is mounted read-only).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import posixpath
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.builder import bundle_digest
from modelyard.core.states import Status
from modelyard.core.timeutil import utcnow
from modelyard.core.validation import InputSchema
from modelyard.runtime.instance import InstanceSpec
from modelyard.sandbox import SANDBOX_SOURCE
from modelyard.services import bundles
from modelyard.services.catalog import VersionInfo
from modelyard.services.urls import marked_key
from modelyard.services.versions import version_folder
from modelyard.store import accounts as accounts_store
from modelyard.store import models as models_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

TRAINING = "training"  # the kind of a prediction row that is a training
WEIGHTS_DIR = ".modelyard/trained"
PUSHED_WEIGHTS = ".modelyard/weights.json"  # a pushed version's weights, replaced by these
NO_WEIGHTS = (
    "The training succeeded but its output has no `weights` file, so no version was created. "
    "train() must return a file, or an object with a `weights` file."
)
_COPIED = (
    "openapi_schema",
    "cog_version",
    "coglet_version",
    "python_requested",
    "python_version",
    "predict_ref",
    "train_ref",
    "concurrency",
    "gpu",
    "config",
    "venv_dir",
)


def training_queue(info: VersionInfo) -> str:
    """The queue of a version's trainings: its own pool of train-mode instances."""
    return f"training:{info.pk}"


def as_training(info: VersionInfo) -> VersionInfo:
    """The version as its trainings see it: `TrainingInput` and `TrainingOutput` in the
    places of `Input` and `Output` (validation, file inputs and secrets work alike)."""
    openapi = info.row.get("openapi_schema") or {}
    components = openapi.get("components", {})
    schemas = dict(components.get("schemas", {}))
    schemas["Input"] = schemas.get("TrainingInput", {"type": "object", "properties": {}})
    schemas["Output"] = schemas.get("TrainingOutput", {})
    swapped = {**openapi, "components": {**components, "schemas": schemas}}
    row = {**info.row, "openapi_schema": swapped}
    return dataclasses.replace(info, row=row, schema=InputSchema.from_openapi(swapped))


def training_spec(spec: InstanceSpec, info: VersionInfo) -> InstanceSpec:
    """How a version's trainings run: coglet in train mode on `train:`, one at a time."""
    return dataclasses.replace(spec, mode="train", predict_ref=info.row["train_ref"], concurrency=1)


def trained_weights_environment(platform: Platform, row: dict[str, Any]) -> dict[str, str]:
    """A version's environment, with trained weights (a path in its source) made absolute
    where its instances see the source: /src in a sandbox, else its folder."""
    environment = dict(row.get("environment") or {})
    weights = environment.get("COG_WEIGHTS", "")
    if weights.startswith(WEIGHTS_DIR + "/"):
        root = SANDBOX_SOURCE if platform.sandbox.enabled else platform.data_dir / row["source_dir"]
        environment["COG_WEIGHTS"] = str(root / weights)
    return environment


def weights_key(secret: bytes, output: Any) -> str | None:
    """The storage key of a training output's weights: `output.weights` or a bare file."""
    value = output.get("weights") if isinstance(output, dict) else output
    return marked_key(secret, value) if isinstance(value, str) else None


async def publish(
    platform: Platform, row: dict[str, Any], output: Any
) -> tuple[Status, Any, str | None]:
    """A training succeeded: its weights become a version of its destination.

    Returns the training's final status, output (`{"version": "owner/name:id", "weights"}`)
    and error; `failed` with the reason when there are no weights or the version cannot be
    made (nothing is left behind then).
    """
    key = weights_key(platform.secret, output)
    if key is None:
        return Status.FAILED, None, NO_WEIGHTS
    try:
        version_id = await _create_version(platform, row, key)
    except Exception as exc:
        logger.exception("training %s: the new version could not be created", row["id"])
        return Status.FAILED, None, f"The new version could not be created: {exc}"
    weights = output.get("weights") if isinstance(output, dict) else output
    return (
        Status.SUCCEEDED,
        {"version": f"{row['destination']}:{version_id}", "weights": weights},
        None,
    )


async def _create_version(platform: Platform, row: dict[str, Any], key: str) -> str:
    owner, _, name = str(row["destination"]).partition("/")
    async with platform.db.connect() as conn:
        trained = await models_store.find_version_by_pk(conn, row["version_pk"])
        model = await models_store.find_model(conn, owner, name)
        owner_account = await accounts_store.find_account(conn, owner)
    if trained is None or model is None or owner_account is None:
        raise RuntimeError("the trained version or the destination model no longer exists")
    staging = Path(tempfile.mkdtemp(prefix="trained-", dir=platform.data_dir / "tmp"))
    try:
        source = staging / "src"
        name_in_source = await _stage(platform, trained, key, source)
        digest = await asyncio.to_thread(bundle_digest, source)
        async with platform.db.connect() as conn:
            existing = await models_store.find_version(conn, model["id"], digest)
        if existing is None:
            folder = version_folder(platform, owner_account["id"], digest)
            if not (folder / "cog.yaml").exists():  # else the same content is there already
                folder.parent.mkdir(parents=True, exist_ok=True)
                source.rename(folder)
            if platform.role != "serve":  # other cluster workers fetch it from storage
                await bundles.publish(platform, folder, digest)
            await _record(platform, row, trained, model, digest, folder, name_in_source)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)
    async with platform.db.begin() as conn:
        await models_store.update_model(conn, model["id"], latest_version_id=digest)
    platform.catalog.forget()
    logger.info("training %s made version %s of %s", row["id"], digest[:12], row["destination"])
    return digest


async def _stage(platform: Platform, trained: dict[str, Any], key: str, source: Path) -> str:
    """Copy the trained version's source to `source` with the weights in it; their path."""
    origin = platform.data_dir / trained["source_dir"]
    await asyncio.to_thread(shutil.copytree, origin, source, symlinks=True)
    (source / PUSHED_WEIGHTS).unlink(missing_ok=True)
    relative = f"{WEIGHTS_DIR}/weights{posixpath.splitext(key)[1]}"
    target = source / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not await platform.storage.get_file(key, target):  # streamed, from disk or S3
        raise RuntimeError("the weights file is gone from storage")
    target.chmod(0o644)  # the sandbox user reads it
    return relative


async def _record(
    platform: Platform,
    row: dict[str, Any],
    trained: dict[str, Any],
    model: dict[str, Any],
    digest: str,
    folder: Path,
    weights: str,
) -> None:
    environment = {
        k: v for k, v in (trained.get("environment") or {}).items() if k != "COG_WEIGHTS"
    }
    environment["COG_WEIGHTS"] = weights
    values = {k: trained.get(k) for k in _COPIED}
    values["config"] = {**(trained.get("config") or {}), "weights": weights}
    logs = f"Created by training {row['id']} of version {trained['id']}: its weights are {weights}"
    async with platform.db.begin() as conn:
        if await models_store.find_version(conn, model["id"], digest) is None:
            await models_store.create_version(
                conn,
                **values,
                id=digest,
                model_id=model["id"],
                status="ready",
                environment=environment,
                source_dir=str(folder.relative_to(platform.data_dir)),
                build_logs=logs,
                error=None,
                training_id=row["id"],
                created_at=utcnow(),
            )
