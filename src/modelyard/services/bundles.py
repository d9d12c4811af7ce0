"""Version bundles in shared storage: how a cluster worker gets a version it never built.

The process that builds a version (`modelyard api`) also stores its source, packed, under
`bundles/<version id>.tar.gz`: the version id is the content hash of that source, so the key
names exactly these bytes. A worker unpacks it into its own data directory (the same relative
folder, one per owning account), writes the stored schema where coglet reads it, and builds
or reuses the environment in its own cache. Nothing is shared on disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.builder import (
    SCHEMA_PATH,
    BundleLimits,
    build_env,
    load_cog_config,
    pack_bundle,
    unpack_bundle,
)
from modelyard.core.errors import NotFound

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)


def bundle_key(version_id: str) -> str:
    return f"bundles/{version_id}.tar.gz"


async def publish(platform: Platform, source: Path, version_id: str) -> None:
    """Store a built version's source for workers (once per version id)."""
    key = bundle_key(version_id)
    if await platform.storage.exists(key):
        return
    data = await asyncio.to_thread(pack_bundle, source)
    await platform.storage.put(key, data)
    logger.info("version %s stored for workers (%d bytes)", version_id[:12], len(data))


async def materialize(platform: Platform, row: dict[str, Any]) -> tuple[Path, Path]:
    """This worker's source folder and environment of version `row`, fetched and built once.

    Raises NotFound when storage has no bundle for it (pushed before cluster mode).
    """
    source = platform.data_dir / row["source_dir"]
    lock = platform.build_locks.setdefault(f"materialize:{row['source_dir']}", asyncio.Lock())
    async with lock:
        if not (source / "cog.yaml").exists():
            await _fetch(platform, row, source)
        env = await build_env(
            load_cog_config(source),
            source,
            envs_dir=platform.settings.env_cache,
            log=lambda line: logger.debug("version %s: %s", row["id"][:12], line),
            system_site_packages=platform.settings.system_site_packages,
            sandbox=platform.sandbox,
        )
    return source, env.venv_dir


async def _fetch(platform: Platform, row: dict[str, Any], source: Path) -> None:
    data = await platform.storage.get(bundle_key(row["id"]))
    if data is None:
        raise NotFound(
            f"Version {row['id'][:12]} has no bundle in storage; push it again to run it on "
            "cluster workers."
        )
    settings = platform.settings
    limits = BundleLimits(
        max_bytes=settings.max_bundle_unpacked_bytes, max_files=settings.max_bundle_files
    )
    staging = Path(tempfile.mkdtemp(prefix="bundle-", dir=platform.data_dir / "tmp"))
    try:
        await asyncio.to_thread(unpack_bundle, data, staging / "src", limits)
        schema = staging / "src" / SCHEMA_PATH
        schema.parent.mkdir(parents=True, exist_ok=True)
        schema.write_text(json.dumps(row["openapi_schema"] or {}, indent=2) + "\n")
        source.parent.mkdir(parents=True, exist_ok=True)
        (staging / "src").rename(source)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True)
    logger.info("version %s fetched from storage", row["id"][:12])
