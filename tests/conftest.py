"""Fixtures shared by every test: environment isolation and the shared environment cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolate_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MODELYARD_* or REPLICATE_* variable of the caller leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("MODELYARD_", "REPLICATE_")):
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def shared_envs_dir() -> Path:
    """One version-environment cache for the whole run (and across runs): `.cache/test-envs`.

    Environments are keyed by content, so tests whose models have the same requirements
    share one build; the directory is gitignored and safe to delete.
    """
    path = REPO_ROOT / ".cache" / "test-envs"
    path.mkdir(parents=True, exist_ok=True)
    return path
