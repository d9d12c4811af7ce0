"""Fixtures for black-box tests: a shared server with the test models pushed once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import MODES, start_platform
from tests.integration.harness import Server

SCENARIOS = (
    "echo",
    "tokens",
    "image",
    "failing",
    "sleeper",
    "typed",
    "legacy-predictor",
    "function-ref",
    "filesize",
    "tokens-fail",
    "ticker",
    "objfile",
)


@pytest.fixture(scope="session", params=MODES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path
) -> Iterator[Server]:
    """One platform for the suite, with every test model pushed as admin/<scenario>.

    `embedded`: one `modelyard serve`. `cluster` (make test-cluster): 2 `modelyard api` and 2
    `modelyard worker` processes on Postgres, Redis and S3, the URL alternating between the API
    replicas (tests/integration/cluster.py).
    """
    settings = {
        "MODELYARD_ALLOW_PRIVATE_NETWORKS": "1",
        # Local weights of the tests live in their temporary folders.
        "MODELYARD_WEIGHTS_DIRS": str(tmp_path_factory.getbasetemp()),
    }
    root = tmp_path_factory.mktemp("shared")
    srv = start_platform(request.param, root, shared_envs_dir, settings)
    srv.versions = {name: srv.push(name, f"admin/{name}") for name in SCENARIOS}  # type: ignore[attr-defined]
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path: Path, shared_envs_dir: Path) -> Iterator[Callable[..., Server]]:
    """Dedicated servers for tests that restart, kill or reconfigure the platform."""
    made: list[Server] = []

    def make(**settings: str) -> Server:
        srv = Server(
            data_dir=tmp_path / f"data{len(made)}", envs_dir=shared_envs_dir, settings=settings
        )
        made.append(srv)
        return srv

    yield make
    for srv in made:
        if srv.process is not None:
            srv.stop()
