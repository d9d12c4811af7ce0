"""schemathesis against the platform's own `/openapi.json`: every documented route, with and
without a valid token, answers without a 500 and within its documented responses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.harness import Server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 12  # per operation and token state: about 40 operations, a minute or two in all


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


def check_every_operation(server: Server, headers: dict[str, str]) -> None:
    """Generate cases for every documented operation; collect each failing one."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if headers and operation.method.upper() == "DELETE" and "tokens" in operation.path:
            continue  # revoking tokens at random would end the run; the anonymous run calls it

        @given(case=operation.as_strategy())
        @SETTINGS
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        try:
            run()
        except Exception as exc:  # one report per operation, all operations tried
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 30, "the document lost its routes"
    assert not failures, "\n\n".join(failures)


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def test_documented_routes_with_a_token(api_server: Server) -> None:
    check_every_operation(api_server, {"Authorization": f"Bearer {api_server.token}"})


def test_documented_routes_without_a_token(api_server: Server) -> None:
    check_every_operation(api_server, {})
