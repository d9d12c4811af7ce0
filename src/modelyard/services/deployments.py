"""Deployment use cases: create, read, list, change (a new release each time), delete, run."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from modelyard.accounts import Account
from modelyard.billing import InstanceTarget
from modelyard.core import cursors
from modelyard.core.errors import BadRequest, Conflict, InvalidInput, LimitReached, NotFound
from modelyard.core.timeutil import isoformat, utcnow
from modelyard.runtime.hardware import gpus_per_instance
from modelyard.services.catalog import VERSION_ID, VERSION_REF, VersionInfo, can_see
from modelyard.services.placement import deployment_queue
from modelyard.store import Conn
from modelyard.store import accounts as accounts_store
from modelyard.store import deployments as store
from modelyard.store import models as models_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
MODEL = re.compile(r"^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$")
PAGE_SIZE = 100
MAX_MIN_INSTANCES = 5
MAX_MAX_INSTANCES = 20
MAX_PREDICTION_TIMEOUT = 7 * 24 * 3600.0  # a model's or deployment's own limit, in seconds


class CreateDeployment(BaseModel):
    """The body of POST /v1/deployments: every field is required."""

    model_config = ConfigDict(extra="ignore")

    name: str
    model: str
    version: str
    hardware: str
    min_instances: int = Field(ge=0, le=MAX_MIN_INSTANCES)
    max_instances: int = Field(ge=0, le=MAX_MAX_INSTANCES)
    prediction_timeout: float | None = Field(default=None, gt=0, le=MAX_PREDICTION_TIMEOUT)


class UpdateDeployment(BaseModel):
    """The body of PATCH /v1/deployments/{owner}/{name}: any of these."""

    model_config = ConfigDict(extra="ignore")

    version: str | None = None
    hardware: str | None = None
    min_instances: int | None = Field(default=None, ge=0, le=MAX_MIN_INSTANCES)
    max_instances: int | None = Field(default=None, ge=0, le=MAX_MAX_INSTANCES)
    prediction_timeout: float | None = Field(default=None, gt=0, le=MAX_PREDICTION_TIMEOUT)


@dataclass(frozen=True)
class DeploymentView:
    """A deployment with its current release (joined with the release's creator)."""

    deployment: dict[str, Any]
    release: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.deployment['owner']}/{self.deployment['name']}"

    @property
    def queue(self) -> str:
        return deployment_queue(self.deployment["id"])


@dataclass(frozen=True)
class Target:
    """Where a deployment prediction goes: the version, the queue and the hardware."""

    version: VersionInfo
    deployment: str
    queue: str
    hardware: str


# -- use cases ---------------------------------------------------------------------------------


async def create_deployment(
    platform: Platform, account: Account, body: CreateDeployment
) -> DeploymentView:
    """A new deployment owned by the caller, with release 1; its warm instances start."""
    name = body.name.split("/", 1)[1] if "/" in body.name else body.name
    if not NAME.match(name):
        raise InvalidInput(
            "name: a deployment name is lowercase letters, digits, '-', '_' or '.', starting "
            "with a letter or digit (at most 100 characters)."
        )
    owner = account.username
    async with platform.db.begin() as conn:
        if await store.find_deployment(conn, owner, name):
            raise Conflict(f"You already have a deployment named {owner}/{name}.")
        release = await _check_release(
            platform,
            conn,
            account,
            body.model,
            body.version,
            body.hardware,
            body.min_instances,
            body.max_instances,
        )
        await _check_account_caps(platform, conn, account.id, body.min_instances)
        now = utcnow()
        row = await store.create_deployment(
            conn,
            owner=owner,
            name=name,
            account_id=account.id,
            current_release=1,
            created_at=now,
        )
        release["prediction_timeout"] = body.prediction_timeout
        await store.create_release(
            conn, deployment_id=row["id"], number=1, created_by_id=account.id, created_at=now,
            **release,
        )  # fmt: skip
        view = await _view(conn, row)
    logger.info("deployment %s created (release 1)", view.ref)
    await platform.scheduler.configure(view.queue)
    return view


async def get_deployment(
    platform: Platform, account: Account, owner: str, name: str
) -> DeploymentView:
    async with platform.db.connect() as conn:
        return await _get(conn, account, owner, name)


async def list_deployments(
    platform: Platform, account: Account, *, cursor: str | None
) -> tuple[list[DeploymentView], str | None]:
    """One page of the caller's deployments, newest first, and the next page's cursor."""
    before = _decode_cursor(cursor) if cursor else None
    async with platform.db.connect() as conn:
        rows = await store.list_deployments(
            conn, owners=list(account.owners), before_id=before, limit=PAGE_SIZE + 1
        )
        views = [await _view(conn, row) for row in rows[:PAGE_SIZE]]
    next_cursor = _encode_cursor(rows[PAGE_SIZE - 1]["id"]) if len(rows) > PAGE_SIZE else None
    return views, next_cursor


async def update_deployment(
    platform: Platform, account: Account, owner: str, name: str, body: UpdateDeployment
) -> DeploymentView:
    """A new release from the current one with the given changes; a new version drains the old."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise BadRequest(
            "Nothing to change: give any of version, hardware, min_instances, max_instances."
        )
    async with platform.db.begin() as conn:
        current = await _get(conn, account, owner, name)
        old = current.release
        release = await _check_release(
            platform,
            conn,
            account,
            old["model"],
            changes.get("version", old["version"]),
            changes.get("hardware", old["hardware"]),
            changes.get("min_instances", old["min_instances"]),
            changes.get("max_instances", old["max_instances"]),
        )
        release["prediction_timeout"] = changes.get(
            "prediction_timeout", old.get("prediction_timeout")
        )
        number = current.deployment["current_release"] + 1
        deployment_id = current.deployment["id"]
        if release["min_instances"] > old["min_instances"]:
            await _check_account_caps(
                platform,
                conn,
                current.deployment["account_id"],
                release["min_instances"],
                deployment_id=deployment_id,
            )
        await store.create_release(
            conn, deployment_id=deployment_id, number=number, created_by_id=account.id,
            created_at=utcnow(), **release,
        )  # fmt: skip
        await store.set_current_release(conn, deployment_id, number)
        view = await _view(conn, {**current.deployment, "current_release": number})
    logger.info("deployment %s changed (release %d)", view.ref, number)
    await platform.scheduler.configure(view.queue)
    return view


async def delete_deployment(platform: Platform, account: Account, owner: str, name: str) -> None:
    """Delete a deployment with nothing waiting; its instances finish what runs, then stop."""
    async with platform.db.begin() as conn:
        view = await _get(conn, account, owner, name)
        if await platform.queue.depth(view.queue):
            raise Conflict(
                "The deployment has predictions waiting to run; wait for them to finish "
                "(or cancel them) before deleting it."
            )
        await store.delete_deployment(conn, view.deployment["id"])
    platform.scheduler.retire(view.queue)
    logger.info("deployment %s deleted", view.ref)


async def prediction_target(platform: Platform, account: Account, owner: str, name: str) -> Target:
    """Where a prediction on this deployment runs (its current release)."""
    async with platform.db.connect() as conn:
        view = await _get(conn, account, owner, name)
        version = await platform.catalog.by_pk(conn, view.release["version_pk"])
    if view.release["max_instances"] == 0:
        raise InvalidInput(
            "This deployment has max_instances 0, so nothing can run on it; raise "
            "max_instances to run predictions."
        )
    return Target(
        version=version, deployment=view.ref, queue=view.queue, hardware=view.release["hardware"]
    )


async def start_all(platform: Platform) -> None:
    """After a start: register every deployment that keeps instances warm with the scheduler."""
    async with platform.db.connect() as conn:
        rows = await store.list_all_deployments(conn)
        views = [await _view(conn, row) for row in rows]
    for view in views:
        if view.release["min_instances"]:
            try:
                await platform.scheduler.configure(view.queue)
            except NotFound:
                logger.warning("deployment %s runs a version that no longer exists", view.ref)


async def billing_target(platform: Platform, key: str) -> InstanceTarget | None:
    """Whom a deployment instance's whole time is billed to: the deployment's owner."""
    async with platform.db.connect() as conn:
        row = await store.find_deployment_by_id(conn, int(key))
        release = await store.find_release(conn, row["id"], row["current_release"]) if row else None
    if row is None or release is None:
        return None
    return InstanceTarget(
        row["account_id"],
        release["hardware"],
        model=release["model"],
        version=release["version"],
        deployment=f"{row['owner']}/{row['name']}",
    )


async def queue_of(platform: Platform, owner_and_name: str) -> str | None:
    """The queue of the deployment named `owner/name`, or None when there is no such one."""
    owner, _, name = owner_and_name.partition("/")
    async with platform.db.connect() as conn:
        row = await store.find_deployment(conn, owner, name)
    return deployment_queue(row["id"]) if row else None


# -- rendering ---------------------------------------------------------------------------------


def render_deployment(view: DeploymentView) -> dict[str, Any]:
    """The deployment object exactly as the API returns it."""
    release = view.release
    created_by = None
    if release.get("creator_username"):
        created_by = {
            "type": "organization" if release["creator_type"] == "organization" else "user",
            "username": release["creator_username"],
            "name": release["creator_name"] or release["creator_username"],
        }
    return {
        "owner": view.deployment["owner"],
        "name": view.deployment["name"],
        "current_release": {
            "number": release["number"],
            "model": release["model"],
            "version": release["version"],
            "created_at": isoformat(release["created_at"]),
            "created_by": created_by,
            "configuration": {
                "hardware": release["hardware"],
                "min_instances": release["min_instances"],
                "max_instances": release["max_instances"],
                **_timeout(release),
            },
        },
    }


def _timeout(release: dict[str, Any]) -> dict[str, Any]:
    """Extension: the release's own prediction timeout, when it has one."""
    seconds = release.get("prediction_timeout")
    return {} if seconds is None else {"prediction_timeout": seconds}


# -- helpers -----------------------------------------------------------------------------------


async def _get(conn: Conn, account: Account, owner: str, name: str) -> DeploymentView:
    row = await store.find_deployment(conn, owner, name)
    if row is None or not can_see(account, row["owner"], "private"):
        raise NotFound(f"The deployment {owner}/{name} does not exist.")
    return await _view(conn, row)


async def _view(conn: Conn, row: dict[str, Any]) -> DeploymentView:
    release = await store.find_release(conn, row["id"], row["current_release"])
    if release is None:  # pragma: no cover - written in the same transaction as the deployment
        raise NotFound(f"The deployment {row['owner']}/{row['name']} has no release.")
    return DeploymentView(deployment=row, release=release)


async def _check_release(
    platform: Platform,
    conn: Conn,
    account: Account,
    model_ref: str,
    version_ref: str,
    hardware: str,
    min_instances: int,
    max_instances: int,
) -> dict[str, Any]:
    """The columns of a valid release; raises a 4xx naming the field that is wrong."""
    if not isinstance(model_ref, str) or not MODEL.match(model_ref):
        raise InvalidInput("model: name the model as owner/name.")
    owner, name = model_ref.split("/", 1)
    model = await platform.catalog.model(conn, account, owner, name)
    version_id = version_ref
    if isinstance(version_ref, str) and (m := VERSION_REF.match(version_ref)):
        if f"{m['owner']}/{m['name']}" != model_ref:
            raise InvalidInput("version: the version must belong to the deployment's model.")
        version_id = m["version"]
    if not isinstance(version_id, str) or not VERSION_ID.match(version_id):
        raise InvalidInput("version: give a version id (64 hexadecimal characters).")
    version = await models_store.find_version(conn, model["id"], version_id)
    if version is None or version["status"] != "ready":
        raise InvalidInput(f"version: the model {model_ref} has no runnable version with that id.")
    _check_hardware(platform, hardware, bool(version["gpu"]), min_instances)
    if min_instances > max_instances:
        raise InvalidInput("min_instances must not be greater than max_instances.")
    return dict(
        model=model_ref,
        version=version_id,
        version_pk=version["pk"],
        hardware=hardware,
        min_instances=min_instances,
        max_instances=max_instances,
    )


async def _check_account_caps(
    platform: Platform,
    conn: Conn,
    account_id: int,
    min_instances: int,
    *,
    deployment_id: int | None = None,
) -> None:
    """Refuse a new deployment past the account's cap, or warm instances past their sum's.

    `deployment_id` is the deployment being changed (not counted; not a new one). Raises
    LimitReached naming the limit and the setting that raises it.
    """
    settings = platform.settings
    await accounts_store.lock_account(conn, account_id)
    count, warm = await store.account_usage(conn, account_id, excluding=deployment_id)
    if deployment_id is None and count >= settings.max_deployments_per_account:
        raise LimitReached(
            f"You already have {count} deployments, the most one account may have "
            f"({settings.max_deployments_per_account}). Delete one you no longer use "
            "(`modelyard deployments delete OWNER/NAME`), or ask the operator to raise "
            "--max-deployments-per-account (MODELYARD_MAX_DEPLOYMENTS_PER_ACCOUNT)."
        )
    if warm + min_instances > settings.max_warm_instances_per_account:
        raise LimitReached(
            f"min_instances: your deployments would keep {warm + min_instances} instances warm "
            f"together, more than the {settings.max_warm_instances_per_account} one account "
            "may. Lower min_instances here or on another deployment, or ask the operator to "
            "raise --max-warm-instances-per-account (MODELYARD_MAX_WARM_INSTANCES_PER_ACCOUNT)."
        )


def _check_hardware(platform: Platform, hardware: str, needs_gpu: bool, min_instances: int) -> None:
    offered = {h.sku: h for h in platform.hardware()}
    gpu_skus = [sku for sku in offered if sku != "cpu"]
    if hardware not in offered:
        raise InvalidInput(
            f"hardware: that SKU is not available on this installation; choose one of: "
            f"{', '.join(offered)} (GET /v1/hardware lists them)."
        )
    if needs_gpu and hardware == "cpu":
        choices = (
            f"choose one of: {', '.join(gpu_skus)}"
            if gpu_skus
            else "this installation has no GPU hardware"
        )
        raise InvalidInput(
            "hardware: this version needs a GPU (`gpu: true` in its cog.yaml), so it cannot "
            f"run on `cpu`; {choices}."
        )
    have = len(offered[hardware].gpu_indexes)
    if min_instances * gpus_per_instance(hardware) > have:
        raise InvalidInput(
            f"min_instances: keeping that many instances warm needs more {hardware} GPUs than "
            f"this installation has ({have})."
        )


def _encode_cursor(deployment_id: int) -> str:
    return cursors.encode_id("d", deployment_id)


def _decode_cursor(cursor: str) -> int:
    return cursors.decode_id("d", cursor)
