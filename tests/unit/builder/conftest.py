"""Builder fixtures: tiny Cog model directories written into tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ModelFactory = Callable[..., Path]

RUNNER = """
from cog import BaseRunner, Input


class Runner(BaseRunner):
    def run(self, text: str = Input(description="Text to echo")) -> str:
        return "hello " + text
"""


@pytest.fixture
def make_model(tmp_path: Path) -> ModelFactory:
    """Write a model directory: `make_model({"cog.yaml": ..., "predict.py": ...})`.

    Values are dedented; bytes are written as they are. Without a cog.yaml or predict.py
    the defaults (a `run: predict.py:Runner` echo model) are used.
    """
    counter = 0

    def make(files: dict[str, str | bytes] | None = None, *, name: str | None = None) -> Path:
        nonlocal counter
        counter += 1
        root = tmp_path / (name or f"model{counter}")
        root.mkdir(parents=True)
        contents: dict[str, str | bytes] = {
            "cog.yaml": 'run: "predict.py:Runner"\n',
            "predict.py": RUNNER,
            **(files or {}),
        }
        for relative, content in contents.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"))
        return root

    return make
