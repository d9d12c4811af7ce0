"""The built-in catalog's directories and what `register_builtins` reads from them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modelyard.builder import load_cog_config
from modelyard.services.builtins import BUILTINS, CatalogEntry, example_input, summary
from modelyard.services.platform import default_catalog_dir

CATALOG = default_catalog_dir()


def test_catalog_is_found_from_the_package() -> None:
    assert CATALOG is not None and (CATALOG / "hello-world" / "cog.yaml").is_file()


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_is_a_complete_cog_directory(name: str) -> None:
    assert CATALOG is not None
    directory = CATALOG / name
    config = load_cog_config(directory)
    assert config.gpu is False, "built-ins must run on this CPU-only machine"
    entry = CatalogEntry.read(directory)
    assert entry.description and entry.readme and entry.cover is not None
    assert entry.cover.stat().st_size < 200_000
    assert example_input(directory), "each built-in has a default example"
    for line in config.requirements.splitlines():
        if line.startswith("torch"):
            assert line.strip() == "torch==2.13.0", "an unpinned torch pulls a CUDA build"


def test_summary_is_the_first_prose_paragraph() -> None:
    readme = "# Title\n\n![cover](cover.png)\n\nFirst line\nsecond line.\n\nMore.\n"
    assert summary(readme) == "First line second line."
    assert summary("# Only a title\n") is None


def test_example_files_become_data_urls(tmp_path: Path) -> None:
    (tmp_path / "in.png").write_bytes(b"\x89PNG")
    (tmp_path / "example.json").write_text(json.dumps({"image": "@in.png", "n": 2}))
    inputs = example_input(tmp_path)
    assert inputs is not None and inputs["n"] == 2
    header, _, data = inputs["image"].partition(",")
    assert header == "data:image/png;base64" and base64.b64decode(data) == b"\x89PNG"


def test_example_files_must_stay_in_the_model(tmp_path: Path) -> None:
    (tmp_path / "example.json").write_text(json.dumps({"image": "@../secret"}))
    with pytest.raises(ValueError):
        example_input(tmp_path)
    assert example_input(tmp_path / "missing") is None
