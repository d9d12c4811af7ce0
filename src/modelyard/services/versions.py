"""Pushing a version: unpack a bundle, build its environment, record it as runnable."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.accounts import Account
from modelyard.builder import (
    BuiltVersion,
    BundleLimits,
    build_version,
    bundle_digest,
    load_cog_config,
    unpack_bundle,
)
from modelyard.core.errors import (
    BadRequest,
    BuildError,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
)
from modelyard.core.timeutil import utcnow
from modelyard.services import bundles
from modelyard.store import models as store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

LogFn = Callable[[str], None]
WEIGHTS_FILE = ".modelyard/weights.json"
MAX_WEIGHTS_LENGTH = 4096
MAX_BUNDLE_BYTES = 2 << 30  # the compressed upload
BUNDLE_TOO_LARGE = "A model bundle must be smaller than 2 GiB; add large files to .cogignore."


@dataclass
class StagedPush:
    """A received bundle unpacked into a private staging folder; not yet a version."""

    model: dict[str, Any]
    owner_id: int  # the account (user or organization) that owns the model
    staging: Path
    digest: str
    weights: str | None

    @property
    def source(self) -> Path:
        return self.staging / "src"

    async def discard(self) -> None:
        """Remove the staging folder; the version folder, once made, stays."""
        await asyncio.to_thread(shutil.rmtree, self.staging, ignore_errors=True)


async def push_version(
    platform: Platform,
    account: Account,
    owner: str,
    name: str,
    bundle: bytes | AsyncIterable[bytes],
    log: LogFn,
    *,
    weights: str | None = None,
) -> dict[str, Any]:
    """Build `bundle` into a version of owner/name; the same bundle twice gives the same version.

    `weights` (a local path or URL) reaches the model's `setup(weights)` as COG_WEIGHTS; it
    is written into the version's source as `WEIGHTS_FILE`, so the same bundle with other
    weights is another version. Raises what `stage_push` raises, and BuildError (with the
    log tail); leaves no version behind when anything fails.
    """
    staged = await stage_push(platform, account, owner, name, bundle, weights=weights)
    try:
        return await build_staged(platform, staged, log)
    finally:
        await staged.discard()


async def stage_push(
    platform: Platform,
    account: Account,
    owner: str,
    name: str,
    bundle: bytes | AsyncIterable[bytes],
    *,
    weights: str | None = None,
) -> StagedPush:
    """Receive and unpack `bundle` for owner/name, within the bundle limits of the settings.

    `bundle` is the archive's bytes or its chunks as they arrive (a request body). Raises
    NotFound for a model the account may not push to, PayloadTooLarge (413) for a bundle
    over `MAX_BUNDLE_BYTES`, `max_bundle_unpacked_bytes` or the bomb ratio, BadRequest for
    an empty one and BuildError (400) for one that is refused or has too many files; in
    each case nothing stays on disk. The caller must `discard()` what it returns.
    """
    weights = check_local_weights(check_weights(weights), platform.settings.weights_roots)
    async with platform.db.connect() as conn:
        model = await platform.catalog.model(conn, account, owner, name)
    if not account.acts_for(model["owner"]):
        raise NotFound(f"The model {owner}/{name} does not exist.")
    settings = platform.settings
    limits = BundleLimits(
        max_bytes=settings.max_bundle_unpacked_bytes, max_files=settings.max_bundle_files
    )
    staging = Path(tempfile.mkdtemp(prefix="push-", dir=platform.data_dir / "tmp"))
    try:
        archive = bundle if isinstance(bundle, bytes) else await _receive(bundle, staging)
        if not (archive if isinstance(archive, bytes) else archive.stat().st_size):
            raise BadRequest(
                "The request body must be the model bundle (a .tar.gz of a Cog directory)."
            )
        digest = await asyncio.to_thread(unpack_bundle, archive, staging / "src", limits)
        if isinstance(archive, Path):
            archive.unlink()  # the staged source is all that is needed from here on
        if weights is not None:
            digest = await asyncio.to_thread(_record_weights, staging / "src", weights)
        else:  # weights recorded inside the bundle itself are held to the same rule
            check_local_weights(recorded_weights(staging / "src"), settings.weights_roots)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)
        raise
    return StagedPush(model, _owner_id(account, model["owner"]), staging, digest, weights)


async def build_staged(platform: Platform, staged: StagedPush, log: LogFn) -> dict[str, Any]:
    """Build a staged push into a version (or return the one already built from it)."""
    if staged.weights is not None:
        log(f"Weights: {staged.weights}")
    log(f"Bundle received: version {staged.digest}")
    return await _build_into(platform, staged, log)


async def _receive(chunks: AsyncIterable[bytes], staging: Path) -> Path:
    """Write an uploaded bundle into `staging`, refusing it at the first byte past the limit."""
    target = staging / "bundle"
    size = 0
    pending: list[bytes] = []
    with target.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > MAX_BUNDLE_BYTES:
                raise PayloadTooLarge(BUNDLE_TOO_LARGE)
            pending.append(chunk)
            if sum(map(len, pending)) >= 1 << 20:
                await asyncio.to_thread(out.writelines, pending)
                pending = []
        await asyncio.to_thread(out.writelines, pending)
    return target


def _owner_id(account: Account, owner: str) -> int:
    if owner == account.username:
        return account.id
    return next(oid for oid, name in account.organizations if name == owner)


def version_folder(platform: Platform, owner_id: int, digest: str) -> Path:
    """Where a version's source lives: one folder per owning account and version id.

    Another account pushing the same bundle gets a folder of its own, so nothing one
    account wrote (or its models wrote at run time) reaches another's predictions.
    """
    return platform.data_dir / "versions" / str(owner_id) / digest


async def _build_into(platform: Platform, staged: StagedPush, log: LogFn) -> dict[str, Any]:
    model, digest = staged.model, staged.digest
    async with platform.db.connect() as conn:
        existing = await store.find_version(conn, model["id"], digest)
    if existing is not None and existing["status"] == "ready":
        log("This version was pushed before; nothing to build.")
        await _publish(platform, staged)
        return existing
    load_cog_config(staged.source)  # fail fast on a bad cog.yaml, before anything is recorded
    source = version_folder(platform, staged.owner_id, digest)
    relative = str(source.relative_to(platform.data_dir))
    lock = platform.build_locks.setdefault(relative, asyncio.Lock())
    async with lock:
        if not (source / "cog.yaml").exists():
            await asyncio.to_thread(_place, staged.source, source)
        async with platform.db.begin() as conn:
            if existing is None:
                existing = await store.create_version(
                    conn,
                    id=digest,
                    model_id=model["id"],
                    status="building",
                    created_at=utcnow(),
                    build_logs="",
                    concurrency=1,
                    gpu=False,
                    source_dir=relative,
                )
            else:
                await store.update_version(
                    conn, existing["pk"], status="building", error=None, source_dir=relative
                )
        lines: list[str] = []
        pending = platform.pending_builds
        pending.started(existing["pk"])

        def record(line: str) -> None:
            lines.append(line)
            pending.log(existing["pk"], line)
            log(line)

        try:
            built = await build_version(
                source,
                envs_dir=platform.settings.env_cache,
                log=record,
                system_site_packages=platform.settings.system_site_packages,
                sandbox=platform.sandbox,
            )
        except BaseException as exc:
            error = (
                exc if isinstance(exc, ModelyardError) else BuildError(f"The build failed: {exc}")
            )
            await asyncio.shield(_forget_failed(platform, existing["pk"], error.detail))
            if not await _source_in_use(platform, digest, relative):
                shutil.rmtree(source, ignore_errors=True)
            if isinstance(exc, ModelyardError) or not isinstance(exc, Exception):
                raise
            raise BuildError(error.detail, logs="\n".join(lines[-50:])) from exc
        values = _version_values(platform, built, "\n".join(lines))
        async with platform.db.begin() as conn:
            await store.update_version(conn, existing["pk"], **values)
            await store.update_model(conn, model["id"], latest_version_id=digest)
            version = await store.find_version_by_pk(conn, existing["pk"])
        platform.catalog.forget(existing["pk"])
    assert version is not None
    await _publish(platform, staged)
    await platform.pending_builds.ready(existing["pk"])  # once workers can fetch it
    _report_python(built, log)
    return version


async def _publish(platform: Platform, staged: StagedPush) -> None:
    if platform.role == "api":  # cluster workers fetch it from storage
        await bundles.publish(platform, staged.source, staged.digest)


async def _forget_failed(platform: Platform, pk: int, error: str) -> None:
    """A failed build leaves no version; predictions that waited on it fail with its error
    (the version row stays, marked failed, while they refer to it)."""
    await platform.pending_builds.failed(pk, error)
    async with platform.db.begin() as conn:
        if await store.count_version_predictions(conn, pk):
            await store.update_version(conn, pk, status="failed", error=error)
        else:
            await store.delete_version(conn, pk)


def _place(unpacked: Path, source: Path) -> None:
    """Copy a staged source into its version folder in one rename."""
    tmp = source.with_name(f".{source.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(unpacked, tmp, symlinks=True)
    tmp.rename(source)


def _report_python(built: BuiltVersion, log: LogFn) -> None:
    if built.python_requested and not built.python_actual.startswith(built.python_requested):
        log(
            f"Warning: cog.yaml asks for Python {built.python_requested}, which is not available "
            f"here; the version runs on Python {built.python_actual}."
        )


def check_weights(weights: str | None) -> str | None:
    """The weights reference, stripped; None for none. Raises BadRequest for a bad one."""
    if weights is None or not weights.strip():
        return None
    weights = weights.strip()
    if len(weights) > MAX_WEIGHTS_LENGTH or any(ord(c) < 32 for c in weights):
        raise BadRequest(
            "weights must be one line, a local path or a URL, at most "
            f"{MAX_WEIGHTS_LENGTH} characters."
        )
    return weights


def check_local_weights(weights: str | None, roots: tuple[Path, ...]) -> str | None:
    """`weights` if it is a URL, or a local path inside one of `roots`; else BadRequest.

    A local path is handed to the model (read-only in its sandbox): only folders the operator
    chose may be, never the data directory or anything else on the machine.
    """
    if weights is None or "://" in weights:
        return weights
    path = Path(os.path.realpath(weights))
    if weights.startswith("/") and any(path.is_relative_to(root) for root in roots):
        return weights
    raise BadRequest(
        "Local weights must be inside a folder the operator allows (MODELYARD_WEIGHTS_DIRS, "
        "now " + (":".join(map(str, roots)) or "empty") + "); give a URL instead."
    )


def _record_weights(source: Path, weights: str) -> str:
    target = source / WEIGHTS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"weights": weights}) + "\n")
    return bundle_digest(source)


def recorded_weights(source: Path) -> str | None:
    """The weights a version was pushed with (see `push_version`), or None."""
    try:
        value = json.loads((source / WEIGHTS_FILE).read_text()).get("weights")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def _version_values(platform: Platform, built: BuiltVersion, logs: str) -> dict[str, Any]:
    weights = recorded_weights(built.source_dir)
    environment = dict(built.environment)
    config = dict(built.config)
    if weights is not None:
        environment["COG_WEIGHTS"] = weights  # coglet hands it to setup(weights)
        config["weights"] = weights
    return dict(
        status="ready",
        openapi_schema=built.openapi_schema,
        cog_version=built.cog_version,
        coglet_version=built.coglet_version,
        python_requested=built.python_requested,
        python_version=built.python_actual,
        predict_ref=built.predict_ref,
        train_ref=built.train_ref,
        concurrency=built.concurrency,
        gpu=built.gpu,
        environment=environment,
        config=config,
        source_dir=str(built.source_dir.relative_to(platform.data_dir)),
        venv_dir=str(built.venv_dir),
        build_logs=logs[-200_000:],
        error=None,
    )


async def _source_in_use(platform: Platform, digest: str, source_dir: str) -> bool:
    async with platform.db.connect() as conn:
        rows = await store.find_versions_by_id(conn, digest)
    return any(row["source_dir"] == source_dir for row in rows)


async def import_directory(
    platform: Platform,
    account: Account,
    directory: Path,
    owner: str,
    name: str,
    log: LogFn,
    *,
    visibility: str = "public",
    description: str | None = None,
    weights: str | None = None,
) -> dict[str, Any]:
    """Register a Cog directory on this platform directly (built-ins, tests)."""
    from modelyard.builder import pack_bundle
    from modelyard.services.models import CreateModel, create_model

    async with platform.db.connect() as conn:
        model = await store.find_model(conn, owner, name)
    if model is None:
        await create_model(
            platform,
            account,
            CreateModel(owner=owner, name=name, visibility=visibility, description=description),
        )
    bundle = await asyncio.to_thread(pack_bundle, directory)
    return await push_version(platform, account, owner, name, bundle, log, weights=weights)


async def stage_directory(
    platform: Platform, account: Account, directory: Path, owner: str, name: str
) -> StagedPush:
    """Stage a Cog directory as a push to owner/name and record its version as building, so
    predictions made before its build starts wait for it (the built-in catalog at start)."""
    from modelyard.builder import pack_bundle

    bundle = await asyncio.to_thread(pack_bundle, directory)
    staged = await stage_push(platform, account, owner, name, bundle)
    try:
        async with platform.db.begin() as conn:
            existing = await store.find_version(conn, staged.model["id"], staged.digest)
            if existing is None:
                existing = await store.create_version(
                    conn,
                    id=staged.digest,
                    model_id=staged.model["id"],
                    status="building",
                    created_at=utcnow(),
                    build_logs="",
                    concurrency=1,
                    gpu=False,
                )
            elif existing["status"] == "failed":
                await store.update_version(conn, existing["pk"], status="building", error=None)
        if existing["status"] != "ready":
            platform.pending_builds.started(existing["pk"])
    except BaseException:
        await staged.discard()
        raise
    return staged
