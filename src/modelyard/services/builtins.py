"""The built-in catalog: Cog directories under the repository's `models/`, registered at start.

Each model is listed at once (description, README, cover image), then built in the
background one after another, with its build log in the server log; a version appears once
its environment is built. A new version runs the model's `example.json` once and records
that prediction as the model's default example.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.accounts import Account
from modelyard.core.errors import ModelyardError
from modelyard.services.platform import CATALOG_OWNER, default_catalog_dir
from modelyard.services.urls import file_marker
from modelyard.services.versions import StagedPush, build_staged, stage_directory
from modelyard.store import models as store
from modelyard.store import predictions as predictions_store

if TYPE_CHECKING:
    from modelyard.services.platform import Platform

logger = logging.getLogger(__name__)

# Smallest first: the quick ones are runnable while the LLM's environment still builds.
BUILTINS = (
    "hello-world",
    "face-blur",
    "piper-en-us-joe",
    "all-minilm-l6-v2",
    "smollm2-135m-instruct",
    "smollm2-135m-lora",  # trainable (issue 14)
)
EXAMPLE_FILE = "example.json"
COVER_FILES = ("cover.png", "cover.jpg", "cover.webp")
FILE_PREFIX = "@"  # an example input value "@sample.jpg" is that file of the model, as data:


@dataclass(frozen=True)
class CatalogEntry:
    """One model directory of the catalog and what its files say about it."""

    name: str
    directory: Path
    description: str | None
    readme: str | None
    cover: Path | None

    @classmethod
    def read(cls, directory: Path) -> CatalogEntry:
        readme_path = directory / "README.md"
        readme = readme_path.read_text(encoding="utf-8") if readme_path.is_file() else None
        cover = next((directory / n for n in COVER_FILES if (directory / n).is_file()), None)
        return cls(
            name=directory.name,
            directory=directory,
            description=summary(readme) if readme else None,
            readme=readme,
            cover=cover,
        )


def summary(readme: str) -> str | None:
    """The README's first paragraph of prose, on one line (the model's description)."""
    paragraph: list[str] = []
    for line in readme.splitlines():
        text = line.strip()
        if not text:
            if paragraph:
                break
            continue
        if text.startswith(("#", "```", "    ", "|", "!", "<")) or line.startswith("    "):
            if paragraph:
                break
            continue
        paragraph.append(text)
    return " ".join(paragraph)[:500] or None


def example_input(directory: Path) -> dict[str, Any] | None:
    """The input in `example.json`, with "@file" values read from the directory as data URLs."""
    path = directory / EXAMPLE_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object of inputs")
    return {key: _inline_file(directory, value) for key, value in raw.items()}


def _inline_file(directory: Path, value: Any) -> Any:
    if not (isinstance(value, str) and value.startswith(FILE_PREFIX)):
        return value
    relative = value[len(FILE_PREFIX) :]
    path = (directory / relative).resolve()
    if not path.is_relative_to(directory.resolve()) or not path.is_file():
        raise ValueError(f"example file {relative} is not in {directory}")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


async def register_builtins(
    platform: Platform, catalog_dir: Path | None = None, names: tuple[str, ...] | None = None
) -> None:
    """List every built-in model as modelyard/NAME (public), then build each and run its example.

    Builds are cached by content, so a restart rebuilds nothing; failures are logged and
    leave the other models alone.
    """
    settings = platform.settings
    root = catalog_dir or settings.catalog_dir or default_catalog_dir()
    if names is None:
        listed = settings.builtin_models
        names = tuple(n.strip() for n in listed.split(",") if n.strip()) if listed else BUILTINS
    if root is None:
        logger.info("no models/ catalog found; no built-in models registered")
        return
    account = await platform.account(CATALOG_OWNER)
    entries = [CatalogEntry.read(root / n) for n in names if (root / n / "cog.yaml").is_file()]
    for entry in entries:
        await _list(platform, account, entry)
    staged: list[tuple[CatalogEntry, StagedPush]] = []
    for entry in entries:  # every version recorded first: predictions on any of them wait
        try:
            push = await stage_directory(
                platform, account, entry.directory, CATALOG_OWNER, entry.name
            )
        except ModelyardError as exc:
            logger.error("built-in model %s could not be staged: %s", entry.name, exc.detail)
            continue
        staged.append((entry, push))
    for entry, push in staged:
        try:
            version = await build_staged(
                platform, push, functools.partial(_log_build_line, entry.name)
            )
        except ModelyardError as exc:
            logger.error("built-in model %s could not be built: %s", entry.name, exc.detail)
            continue
        finally:
            await push.discard()
        logger.info("built-in model %s/%s is ready", CATALOG_OWNER, entry.name)
        try:
            await _run_example(platform, account, entry, version["id"])
        except (ModelyardError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, ModelyardError) else str(exc)
            logger.error("the example of built-in model %s did not start: %s", entry.name, detail)


def _log_build_line(name: str, line: str) -> None:
    logger.info("[%s/%s] %s", CATALOG_OWNER, name, line)


async def _list(platform: Platform, account: Account, entry: CatalogEntry) -> None:
    """Create modelyard/NAME if missing, and refresh its description, README and cover."""
    from modelyard.services.models import CreateModel, create_model

    cover_url = None
    if entry.cover is not None:
        key = f"catalog/{entry.name}/{entry.cover.name}"
        await platform.storage.put(key, entry.cover.read_bytes())
        cover_url = file_marker(platform.secret, key)
    async with platform.db.connect() as conn:
        model = await store.find_model(conn, CATALOG_OWNER, entry.name)
    if model is None:
        model = await create_model(
            platform,
            account,
            CreateModel(owner=CATALOG_OWNER, name=entry.name, visibility="public"),
        )
    async with platform.db.begin() as conn:
        await store.update_model(
            conn,
            model["id"],
            description=entry.description,
            readme=entry.readme,
            cover_image_url=cover_url,
        )


async def _run_example(
    platform: Platform, account: Account, entry: CatalogEntry, version_id: str
) -> None:
    """Run `example.json` on a new version and make it the model's default example."""
    from modelyard.services.predictions import CreatePrediction, create_prediction

    inputs = example_input(entry.directory)
    if inputs is None:
        return
    async with platform.db.connect() as conn:
        model = await store.find_model(conn, CATALOG_OWNER, entry.name)
        assert model is not None
        current = model.get("default_example_id")
        if current:
            example = await predictions_store.find_prediction(conn, current)
            if example is not None and example["version"] == version_id:
                return
        version = await platform.catalog.latest(conn, account, CATALOG_OWNER, entry.name)
    created = await create_prediction(
        platform, account, version, CreatePrediction(input=inputs), source="web"
    )
    async with platform.db.begin() as conn:
        await store.update_model(conn, model["id"], default_example_id=created.row["id"])
    logger.info("built-in model %s: example prediction %s", entry.name, created.row["id"])
