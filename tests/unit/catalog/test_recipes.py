"""GPU recipes under models/recipes/: valid cog.yaml, a schema from the real generator, clear
errors without weights. Their heavy requirements are not installed: the recipes import torch,
diffusers and vLLM only inside setup(), so they are inspected in a plain cog environment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from modelyard.builder import build_version, load_cog_config

REPO = Path(__file__).resolve().parents[3]
RECIPES = REPO / "models" / "recipes"
EXPECTED = {
    "flux-schnell": ({"prompt", "aspect_ratio", "num_outputs", "seed"}, "array"),
    "sdxl": ({"prompt", "negative_prompt", "width", "height", "scheduler", "seed"}, "array"),
    "llama-3-8b-instruct": ({"prompt", "system_prompt", "max_tokens", "temperature"}, "array"),
    "whisper-large-v3": ({"audio", "task", "language", "timestamps"}, "object"),
}
SETUP_WITHOUT_WEIGHTS = """
import asyncio, inspect, predict
runner = predict.Runner()
try:
    result = runner.setup(None)
    if inspect.isawaitable(result):
        asyncio.run(result)
except ValueError as exc:
    print(exc)
"""


def _light_copy(recipe: Path, tmp_path: Path) -> Path:
    """The recipe without its GPU requirements and system packages."""
    copy = tmp_path / recipe.name
    shutil.copytree(recipe, copy)
    config = yaml.safe_load((copy / "cog.yaml").read_text())
    config["build"].pop("python_requirements", None)
    config["build"].pop("system_packages", None)
    (copy / "cog.yaml").write_text(yaml.safe_dump(config))
    return copy


def test_every_recipe_is_listed() -> None:
    assert sorted(p.name for p in RECIPES.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_config_asks_for_a_gpu_and_pins_requirements(name: str) -> None:
    config = load_cog_config(RECIPES / name)
    assert config.gpu is True
    assert config.predict_ref == "predict.py:Runner"
    for line in config.requirements.splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"{name}: pin {line}"
    assert not (RECIPES / name / "weights.py").exists()  # the environment has modelyard_weights
    assert "import modelyard_weights" in (RECIPES / name / "predict.py").read_text()


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_recipe_schema_and_missing_weights(
    name: str, tmp_path: Path, shared_envs_dir: Path
) -> None:
    model = _light_copy(RECIPES / name, tmp_path)
    version = await build_version(model, envs_dir=shared_envs_dir, log=lambda _line: None)
    schemas = version.openapi_schema["components"]["schemas"]
    inputs, output_type = EXPECTED[name]
    assert inputs <= set(schemas["Input"]["properties"])
    assert schemas["Output"]["type"] == output_type
    if name == "llama-3-8b-instruct":
        assert schemas["Output"]["x-cog-array-type"] == "iterator"
        assert version.is_async and version.concurrency == 16
    result = subprocess.run(
        [str(version.python_executable), "-c", SETUP_WITHOUT_WEIGHTS],
        cwd=model,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"modelyard models import models/recipes/{name} --weights" in result.stdout, (
        result.stdout + result.stderr
    )
