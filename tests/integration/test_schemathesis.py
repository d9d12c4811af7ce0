"""schemathesis (`st run --checks all`) against `modelyard serve`'s own `/openapi.json`, with
and without a valid token: every documented operation answers within its documented
statuses, media types and shapes, valid requests are accepted, invalid ones refused, and
`Allow` is right. `schemathesis.toml` beside this file lists the refusals that depend on what
exists rather than on the request's shape. Each run is bounded by `--max-time`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import BIN, Server

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> Iterator[Server]:
    server = Server(data_dir=tmp_path_factory.mktemp("schema") / "data", envs_dir=shared_envs_dir)
    server.start()
    with server.http() as http:  # something to find, so that not every answer is a 404
        http.post(
            "/v1/models",
            json={"owner": "admin", "name": "m", "visibility": "private", "hardware": "cpu"},
        ).raise_for_status()
        http.post("/v1/files", files={"content": ("f.txt", b"hi", "text/plain")}).raise_for_status()
    yield server
    server.stop()
    assert "Traceback" not in server.log_path.read_text()


def st_run(server: Server, *extra: str, seconds: int) -> subprocess.CompletedProcess[str]:
    # Run in the server's folder: st writes a `.schemathesis/` cache where it runs.
    return subprocess.run(
        [
            str(BIN / "st"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "8",
            "--max-time",
            str(seconds),
            "--generation-deterministic",
            "--no-shrink",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        cwd=server.data_dir.parent,
    )


def test_documented_api_with_a_token(api_server: Server) -> None:
    result = st_run(api_server, "-H", f"Authorization: Bearer {api_server.token}", seconds=100)
    assert result.returncode == 0, result.stdout[-20000:]
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert tested and int(tested[1]) >= 40, "the document lost its operations"


def test_documented_api_without_a_token(api_server: Server) -> None:
    result = st_run(api_server, seconds=45)
    assert result.returncode == 0, result.stdout[-20000:]


def test_both_documents_are_the_same(api_server: Server) -> None:
    with api_server.http() as http:
        first, second = http.get("/openapi.json"), http.get("/v1/openapi.json")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert not [p for p in first.json()["paths"] if not p.startswith(("/v1/", "/health"))]
