"""Runtime fixtures: one cog+coglet venv per machine, tiny models written into tmp_path."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from uv import find_uv_bin

from modelyard.runtime.instance import Instance, InstanceSpec

COG_VERSION = "0.23.1"
VERSION_ID = "ab" * 32

ModelFactory = Callable[..., Path]
InstanceFactory = Callable[..., Awaitable[Instance]]


@pytest.fixture(scope="session")
def runtime_venv(shared_envs_dir: Path) -> Path:
    """A venv with cog and coglet, built once and reused while its marker exists."""
    root = shared_envs_dir / "runtime-base"
    venv = root / "venv"
    marker = root / "complete.json"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and (venv / "bin" / "python").exists():
            return venv
        uv = find_uv_bin()
        subprocess.run(
            [uv, "venv", "-q", "--clear", "--python", sys.executable, str(venv)], check=True
        )
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
             f"cog=={COG_VERSION}", f"coglet=={COG_VERSION}"],
            check=True,
        )  # fmt: skip
        marker.write_text(json.dumps({"cog": COG_VERSION, "coglet": COG_VERSION}))
    return venv


def openapi_schema(output: dict[str, Any], inputs: dict[str, Any], required: list[str]) -> dict:
    """The least coglet needs: Input (validation), Output (array or not), SSE opt-in."""
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {"/predictions": {"post": {"summary": "Predict", "x-cog-streaming": True}}},
        "components": {
            "schemas": {
                "Input": {
                    "title": "Input",
                    "type": "object",
                    "properties": inputs,
                    "required": required,
                },
                "Output": {"title": "Output", **output},
            }
        },
    }


@pytest.fixture
def make_model(tmp_path: Path) -> ModelFactory:
    """Write `predict.py` and `.cog/openapi_schema.json` into a fresh model directory."""
    counter = 0

    def make(
        code: str,
        *,
        output: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        required: list[str] | None = None,
    ) -> Path:
        nonlocal counter
        counter += 1
        root = tmp_path / f"model{counter}"
        (root / ".cog").mkdir(parents=True)
        (root / "predict.py").write_text(textwrap.dedent(code).lstrip("\n"))
        schema = openapi_schema(output or {"type": "string"}, inputs or {}, required or [])
        (root / ".cog" / "openapi_schema.json").write_text(json.dumps(schema))
        return root

    return make


@pytest.fixture
async def start_instance(runtime_venv: Path, tmp_path: Path) -> AsyncIterator[InstanceFactory]:
    """Start instances of model directories; every one is stopped after the test."""
    instances: list[Instance] = []

    async def start(
        source_dir: Path,
        predict_ref: str = "predict.py:Predictor",
        *,
        cancel_grace: float = 10.0,
        **spec: Any,
    ) -> Instance:
        instance = Instance(
            InstanceSpec(
                version_id=VERSION_ID,
                source_dir=source_dir,
                venv_dir=runtime_venv,
                predict_ref=predict_ref,
                **spec,
            ),
            cancel_grace=cancel_grace,
            pid_dir=tmp_path / "pids",
            tmp_root=tmp_path,
        )
        instances.append(instance)
        await instance.start()
        return instance

    yield start
    for instance in instances:
        await instance.stop(grace=0)
