"""Heavy catalog tests: one server with the built-in models registered; `make test-models`.

They run only when selected with `-m models` (they build torch environments and run real
models); a plain `pytest tests` skips them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.services.builtins import BUILTINS
from tests.integration.harness import Server

BUILD_TIMEOUT_S = 1500.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "models" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="heavy model tests: run `make test-models` (-m models)")
    for item in items:
        if "models_catalog" in str(item.path):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> Iterator[Server]:
    """A platform that registered the built-in catalog, once every model has a version."""
    srv = Server(
        data_dir=tmp_path_factory.mktemp("catalog") / "data",
        envs_dir=shared_envs_dir,
        settings={"MODELYARD_REGISTER_BUILTIN_MODELS": "1"},
    )
    started = time.monotonic()
    srv.start()
    try:
        wait_for_versions(srv, BUILTINS, started + BUILD_TIMEOUT_S)
        yield srv
    finally:
        srv.stop()


def wait_for_versions(srv: Server, names: tuple[str, ...], deadline: float) -> None:
    pending = set(names)
    with srv.http() as http:
        while pending:
            for name in sorted(pending):
                model = http.get(f"/v1/models/modelyard/{name}")
                if model.status_code == 200 and model.json()["latest_version"]:
                    pending.discard(name)
            if not pending:
                return
            if time.monotonic() > deadline or srv.process is None or srv.process.poll() is not None:
                log = srv.log_path.read_text()[-5000:]
                raise AssertionError(f"not built: {sorted(pending)}\n{log}")
            time.sleep(2)


def download(srv: Server, url: str) -> bytes:
    response = httpx.get(url, verify=srv.verify(), timeout=60)
    response.raise_for_status()
    return response.content
