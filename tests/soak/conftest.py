"""The soak's server, and the rule that keeps it out of runs that did not ask for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests run only when selected with `-m soak` (`make soak-ci`, `make soak`)."""
    if "soak" in (config.getoption("-m") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@pytest.fixture
def soak_server(tmp_path: Path, shared_envs_dir: Path) -> Iterator[Server]:
    """A dedicated platform with a private TMPDIR and limits high enough for a load test."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    srv = Server(
        data_dir=tmp_path / "data",
        envs_dir=shared_envs_dir,
        settings={
            "TMPDIR": str(tmpdir),
            "MODELYARD_ALLOW_PRIVATE_NETWORKS": "1",  # the webhook receiver is on loopback
            "MODELYARD_MAX_INSTANCES": "2",
            "MODELYARD_WEBHOOK_RETRY_BASE": "0.2",
            "MODELYARD_RATE_LIMIT_CREATE": "100000/min",
            "MODELYARD_RATE_LIMIT_OTHER": "1000000/min",
        },
    )
    yield srv
    if srv.process is not None:
        srv.stop()
