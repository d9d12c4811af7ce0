"""The built-in catalog: Cog directories under the repository's `models/`, registered at start."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.core.errors import ModelyardError
from modelyard.services.platform import CATALOG_OWNER, default_catalog_dir
from modelyard.services.versions import import_directory

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

BUILTINS = ("hello-world",)


async def register_builtins(platform: Platform, catalog_dir: Path | None = None) -> None:
    """Register (build once, cached by content) each built-in model as modelyard/NAME, public."""
    root = catalog_dir or default_catalog_dir()
    if root is None:
        logger.info("no models/ catalog found; no built-in models registered")
        return
    account = await platform.account(CATALOG_OWNER)
    for name in BUILTINS:
        directory = root / name
        if not (directory / "cog.yaml").exists():
            continue
        try:
            await import_directory(
                platform,
                account,
                directory,
                CATALOG_OWNER,
                name,
                lambda line, n=name: logger.debug("[%s] %s", n, line),
            )
            logger.info("built-in model %s/%s is ready", CATALOG_OWNER, name)
        except ModelyardError as exc:
            logger.error("built-in model %s could not be registered: %s", name, exc.detail)
