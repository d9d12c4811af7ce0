"""Where a queue's instances run: the version, hardware and instance bounds of each queue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import NotFound
from modelyard.runtime.hardware import gpus_per_instance
from modelyard.runtime.instance import InstanceSpec
from modelyard.runtime.pools import PoolConfig
from modelyard.services import bundles
from modelyard.services.catalog import VersionInfo
from modelyard.services.trained import trained_weights_environment, training_spec
from modelyard.store import deployments as deployments_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform


def deployment_queue(deployment_id: int) -> str:
    return f"deployment:{deployment_id}"


def version_hardware(platform: Platform, info: VersionInfo) -> str:
    """The hardware of a version's own (non-deployment) predictions.

    The model's hardware when this installation has it, else the first GPU SKU for a
    `gpu: true` version, else `cpu` (such a version then runs without a GPU).
    """
    offered = [h.sku for h in platform.hardware()]
    wanted = info.hardware or "cpu"
    if wanted in offered and (wanted != "cpu" or not info.row.get("gpu")):
        return wanted
    if info.row.get("gpu"):
        gpus = [sku for sku in offered if sku != "cpu"]
        if gpus:
            return gpus[0]
    return "cpu"


async def instance_spec(platform: Platform, info: VersionInfo) -> InstanceSpec:
    row = info.row
    source_dir, venv_dir = platform.settings.data_dir / row["source_dir"], Path(row["venv_dir"])
    if platform.role == "worker":  # a cluster worker has its own copy of the version
        source_dir, venv_dir = await bundles.materialize(platform, row)
    return InstanceSpec(
        version_id=info.id,
        source_dir=source_dir,
        venv_dir=venv_dir,
        predict_ref=row["predict_ref"],
        concurrency=int(row["concurrency"] or 1),
        environment=trained_weights_environment(platform, row),
        upload_url=platform.upload_url,
        upload_outputs=not info.returns_file_list,  # their order survives only inline
        setup_timeout=platform.settings.setup_timeout,
    )


async def pool_config(platform: Platform, queue: str) -> PoolConfig:
    """The configuration of `version:<pk>`, `training:<pk>` or `deployment:<id>`; NotFound
    when it is gone."""
    kind, _, key = queue.partition(":")
    async with platform.db.connect() as conn:
        if kind == "deployment":
            deployment = await deployments_store.find_deployment_by_id(conn, int(key))
            release = None
            if deployment is not None:
                release = await deployments_store.find_release(
                    conn, deployment["id"], deployment["current_release"]
                )
            if deployment is None or release is None:
                raise NotFound("The deployment no longer exists.")
            info = await platform.catalog.by_pk(conn, release["version_pk"])
        elif kind in ("version", "training"):
            info = await platform.catalog.by_pk(conn, int(key))
        else:
            raise NotFound(f"Unknown queue kind {kind!r}.")
    spec = await instance_spec(platform, info)
    if kind == "training":  # its own coglet, in train mode, one training at a time
        spec = training_spec(spec, info)
    if kind == "deployment":
        assert deployment is not None and release is not None
        return PoolConfig(
            spec=spec,
            hardware=release["hardware"],
            gpus=gpus_per_instance(release["hardware"]),
            min_instances=release["min_instances"],
            max_instances=release["max_instances"],
            model=info.model,
            deployment=f"{deployment['owner']}/{deployment['name']}",
            owners=frozenset({info.owner, deployment["owner"]}),
        )
    hardware = version_hardware(platform, info)
    return PoolConfig(
        spec=spec,
        hardware=hardware,
        gpus=gpus_per_instance(hardware),
        min_instances=0,
        max_instances=info.max_instances or platform.settings.max_instances,
        model=info.model,
        owners=frozenset({info.owner}),
    )


async def prediction_timeout(
    platform: Platform, row: dict[str, Any], info: VersionInfo
) -> float | None:
    """A prediction's own time limit: its deployment's, else its model's; None for the
    installation's (`MODELYARD_PREDICTION_TIMEOUT`)."""
    if row.get("deployment"):
        owner, _, name = row["deployment"].partition("/")
        async with platform.db.connect() as conn:
            deployment = await deployments_store.find_deployment(conn, owner, name)
            release = None
            if deployment is not None:
                release = await deployments_store.find_release(
                    conn, deployment["id"], deployment["current_release"]
                )
        if release is not None and release.get("prediction_timeout"):
            return float(release["prediction_timeout"])
    return info.prediction_timeout
