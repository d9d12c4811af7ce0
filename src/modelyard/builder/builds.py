"""Turn an extracted model directory into a runnable version: config, env, schema, concurrency."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.builder.bundle import bundle_digest
from modelyard.builder.config import load_cog_config
from modelyard.builder.environments import build_env
from modelyard.builder.helpers import install_helpers
from modelyard.builder.pipconfig import UvPipArgs
from modelyard.builder.schema import generate_schema
from modelyard.core.errors import BuildError
from modelyard.core.openai_mapping import check_block
from modelyard.sandbox import NO_SANDBOX, Sandbox

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltVersion:
    """Everything the platform stores about a version and needs to start its instances.

    Start an instance with `cwd=source_dir`, `venv_dir/bin` first on PATH, `environment`,
    `COG_PREDICT_TYPE_STUB=predict_ref` and `COG_MAX_CONCURRENCY=concurrency`.
    """

    id: str
    source_dir: Path
    venv_dir: Path
    python_executable: Path
    python_requested: str | None
    python_actual: str
    cog_version: str
    coglet_version: str
    openapi_schema: dict[str, Any]
    predict_ref: str
    train_ref: str | None
    concurrency: int
    environment: dict[str, str]
    gpu: bool
    is_async: bool
    config: dict[str, Any]
    build_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (paths as strings) for storing with the version."""
        out = dataclasses.asdict(self)
        for key in ("source_dir", "venv_dir", "python_executable"):
            out[key] = str(out[key])
        return out


async def build_version(
    source_dir: Path,
    *,
    envs_dir: Path,
    log: Callable[[str], None],
    pip: UvPipArgs | None = None,
    python_downloads: bool = True,
    system_site_packages: bool = False,
    sandbox: Sandbox = NO_SANDBOX,
) -> BuiltVersion:
    """Build the version for an already-extracted model directory.

    The id is `bundle_digest(source_dir)`, taken before `.cog/` is written. The environment
    comes from (or goes into) the cache under `envs_dir`; the schema is written to
    `<source_dir>/.cog/openapi_schema.json`. `log` receives progress lines as they happen;
    `pip` overrides the host's pip configuration and `python_downloads=False` forbids
    `uv python install`; `system_site_packages` lets the environment use the platform's own
    Python packages (see `build_env_sync`); `sandbox` runs the model author's code (package
    builds, `build.run`, the predictor's import) sandboxed. Raises `BuildError` with a detail
    that says what to fix.

    Example::

        version = await build_version(Path("versions/x/src"), envs_dir=Path("envs"), log=print)
    """
    started = time.monotonic()
    source_dir = source_dir.resolve()
    config = load_cog_config(source_dir)
    version_id = bundle_digest(source_dir)
    log(f"Building version {version_id[:12]} ({config.predict_ref})")
    env = await build_env(
        config,
        source_dir,
        envs_dir=envs_dir,
        log=log,
        pip=pip,
        python_downloads=python_downloads,
        system_site_packages=system_site_packages,
        sandbox=sandbox,
    )
    await asyncio.to_thread(install_helpers, env.venv_dir)  # modelyard_weights and kin
    result = await generate_schema(
        source_dir, env.python_executable, config, log=log, sandbox=sandbox
    )
    check_block(config.openai, result.schema)
    concurrency = config.concurrency_max or result.concurrency_max or 1
    if concurrency > 1 and not result.is_async:
        raise BuildError(
            f"Concurrency is {concurrency} but the predictor's run() is not async; coglet "
            "needs `async def run` to run predictions concurrently. Make it async or drop "
            "concurrency.max / @concurrent."
        )
    elapsed = time.monotonic() - started
    log(f"Built version {version_id[:12]} in {elapsed:.1f}s")
    return BuiltVersion(
        id=version_id,
        source_dir=source_dir,
        venv_dir=env.venv_dir,
        python_executable=env.python_executable,
        python_requested=config.python_version,
        python_actual=env.python_actual,
        cog_version=env.cog_version,
        coglet_version=env.coglet_version,
        openapi_schema=result.schema,
        predict_ref=config.predict_ref,
        train_ref=config.train_ref,
        concurrency=concurrency,
        environment=dict(config.environment),
        gpu=config.gpu,
        is_async=result.is_async,
        config=config.to_dict(),
        build_seconds=round(elapsed, 3),
    )
