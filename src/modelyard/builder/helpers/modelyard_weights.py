"""`modelyard_weights`: where a model's weights are, a local path or an http(s) URL of a
file or archive. modelyard puts this module into every version environment it builds, so a
model directory imports it without shipping a copy:

    import modelyard_weights

    def setup(self, weights: str | None = None) -> None:
        path = modelyard_weights.resolve(weights, recipe="sdxl", expect="a diffusers folder")

The platform passes what `modelyard models import DIR --weights PATH_OR_URL` recorded as
COG_WEIGHTS, and cog hands it to `setup(weights)`. URLs are downloaded once into
`$MODELYARD_WEIGHTS_CACHE` (default `~/.cache/modelyard/weights`); `.tar`, `.tar.gz`,
`.tgz` and `.zip` archives are unpacked there. It imports nothing of modelyard's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

ARCHIVES = (".tar", ".tar.gz", ".tgz", ".zip")


def resolve(weights: str | None, *, recipe: str, expect: str) -> Path:
    """The local path of the weights; ValueError with what to do when there are none."""
    if weights is None or not weights.strip():
        raise ValueError(
            f"{recipe} has no weights. Register it with `modelyard models import "
            f"models/recipes/{recipe} --weights PATH_OR_URL`, where PATH_OR_URL is {expect}."
        )
    weights = weights.strip()
    if weights.startswith(("http://", "https://")):
        return download(weights)
    path = Path(weights.removeprefix("file://")).expanduser()
    if not path.exists():
        raise ValueError(f"The weights path {path} does not exist on this machine.")
    return path


def download(url: str) -> Path:
    """Fetch `url` once into the cache (unpacking an archive); returns the cached path."""
    cache = Path(os.environ.get("MODELYARD_WEIGHTS_CACHE", "~/.cache/modelyard/weights"))
    target = cache.expanduser() / hashlib.sha256(url.encode()).hexdigest()[:24]
    done = target / ".complete"
    if done.exists():
        return _content(target)
    target.mkdir(parents=True, exist_ok=True)
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "weights"
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        file = Path(scratch) / name
        print(f"Downloading weights from {url}")
        with urllib.request.urlopen(url) as response, file.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out, length=1 << 22)
        content = target / "content"
        shutil.rmtree(content, ignore_errors=True)
        if name.endswith(ARCHIVES[:3]):
            with tarfile.open(file) as archive:
                archive.extractall(content, filter="data")
        elif name.endswith(".zip"):
            with zipfile.ZipFile(file) as archive:
                archive.extractall(content)
        else:
            content.mkdir()
            file.rename(content / name)
    done.touch()
    return _content(target)


def _content(target: Path) -> Path:
    """The unpacked folder, or the one folder an archive held at its top."""
    content = target / "content"
    entries = list(content.iterdir())
    if len(entries) == 1 and (entries[0].is_dir() or not entries[0].name.endswith(ARCHIVES)):
        return entries[0]
    return content
