"""Deployments through the API, the official Python client and the CLI; hardware checks."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.integration.harness import REPO, Server


@pytest.fixture(scope="module")
def gpu_version(server: Server) -> str:
    return server.push("gpu-reporter", "admin/gpu-reporter")


@pytest.fixture
def cleanup(server: Server) -> Iterator[list[str]]:
    """Names of deployments (owner/name) to delete after the test."""
    names: list[str] = []
    yield names
    with server.http() as http:
        for name in names:
            http.delete(f"/v1/deployments/{name}")


def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.token, base_url=server.url)


def test_python_client_deployments(server: Server, cleanup: list[str]) -> None:
    c = client(server)
    version = server.versions["echo"]  # type: ignore[attr-defined]
    cleanup.append("admin/echo-prod")
    created = c.deployments.create(
        name="admin/echo-prod",  # the client strips the owner
        model="admin/echo",
        version=version,
        hardware="cpu",
        min_instances=0,
        max_instances=1,
    )
    assert (created.owner, created.name) == ("admin", "echo-prod")
    release = created.current_release
    assert release is not None and release.number == 1
    assert (release.model, release.version) == ("admin/echo", version)
    assert release.configuration.hardware == "cpu"
    assert release.created_by is not None and release.created_by.username == "admin"

    got = c.deployments.get("admin/echo-prod")
    assert got.current_release is not None and got.current_release.number == 1
    assert "admin/echo-prod" in [d.id for d in c.deployments.list().results]

    updated = c.deployments.update("admin", "echo-prod", min_instances=0, max_instances=2)
    assert updated.current_release is not None and updated.current_release.number == 2
    assert updated.current_release.configuration.max_instances == 2

    prediction = c.deployments.predictions.create(
        deployment="admin/echo-prod", input={"text": "via deployment"}
    )
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == "via deployment"
    with server.http() as http:
        raw = http.get(f"/v1/predictions/{prediction.id}").json()
    assert raw["deployment"] == "admin/echo-prod"
    assert raw["version"] == version
    # The predictions namespace reaches the same endpoint.
    again = c.predictions.create(deployment="admin/echo-prod", input={"text": "again"})
    again.wait()
    assert again.output == "again"

    assert c.deployments.delete("admin", "echo-prod") is True
    with pytest.raises(ReplicateError) as missing:
        c.deployments.get("admin/echo-prod")
    assert missing.value.status == 404


def test_deployment_object_and_releases(server: Server, cleanup: list[str]) -> None:
    version = server.versions["echo"]  # type: ignore[attr-defined]
    cleanup.append("admin/shape")
    body = {
        "name": "shape",
        "model": "admin/echo",
        "version": version,
        "hardware": "cpu",
        "min_instances": 0,
        "max_instances": 1,
    }
    with server.http() as http:
        created = http.post("/v1/deployments", json=body)
        assert created.status_code == 200, created.text
        deployment = created.json()
        assert set(deployment) == {"owner", "name", "current_release"}
        release = deployment["current_release"]
        assert set(release) == {
            "number",
            "model",
            "version",
            "created_at",
            "created_by",
            "configuration",
        }
        assert release["created_by"] == {"type": "user", "username": "admin", "name": "admin"}
        assert release["configuration"] == {
            "hardware": "cpu",
            "min_instances": 0,
            "max_instances": 1,
        }
        assert release["created_at"].endswith("Z")
        numbers = [release["number"]]
        for change in ({"max_instances": 3}, {"min_instances": 1}, {"hardware": "cpu"}):
            patched = http.patch("/v1/deployments/admin/shape", json=change)
            assert patched.status_code == 200, patched.text
            numbers.append(patched.json()["current_release"]["number"])
        assert numbers == [1, 2, 3, 4]
        current = http.get("/v1/deployments/admin/shape").json()["current_release"]
        assert current["configuration"] == {
            "hardware": "cpu",
            "min_instances": 1,
            "max_instances": 3,
        }
        assert http.patch("/v1/deployments/admin/shape", json={}).status_code == 400
        assert http.post("/v1/deployments", json=body).status_code == 409
        assert http.delete("/v1/deployments/admin/shape").status_code == 204
        assert http.get("/v1/deployments/admin/shape").status_code == 404
        assert http.delete("/v1/deployments/admin/shape").status_code == 404


def test_deployment_validation(server: Server, gpu_version: str) -> None:
    echo = server.versions["echo"]  # type: ignore[attr-defined]
    good = {
        "name": "bad",
        "model": "admin/echo",
        "version": echo,
        "hardware": "cpu",
        "min_instances": 0,
        "max_instances": 1,
    }
    cases = [
        ({"hardware": "gpu-nonexistent"}, 422, "hardware"),
        ({"min_instances": 2, "max_instances": 1}, 422, "min_instances"),
        ({"min_instances": 6, "max_instances": 20}, 422, "min_instances"),
        ({"max_instances": 21}, 422, "max_instances"),
        ({"version": "0" * 64}, 422, "version"),
        ({"version": "not-a-version"}, 422, "version"),
        ({"model": "admin/no-such-model"}, 404, "does not exist"),
        ({"name": "Bad Name"}, 422, "name"),
        ({"model": "admin/gpu-reporter", "version": gpu_version}, 422, "needs a GPU"),
    ]
    with server.http() as http:
        for change, status, words in cases:
            r = http.post("/v1/deployments", json={**good, **change})
            assert r.status_code == status, (change, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert words in r.json()["detail"], (change, r.json())
        missing = {k: v for k, v in good.items() if k != "hardware"}
        assert http.post("/v1/deployments", json=missing).status_code == 422
        gpu_on_cpu = http.post(
            "/v1/deployments",
            json={**good, "model": "admin/gpu-reporter", "version": gpu_version},
        ).json()["detail"]
        assert "cpu" in gpu_on_cpu and "no GPU hardware" in gpu_on_cpu
        listed = http.get("/v1/deployments").json()["results"]
        assert all(d["name"] != "bad" for d in listed)


def test_cli_deployments_and_instances(server: Server, cleanup: list[str]) -> None:
    cleanup.append("admin/cli-dep")
    created = server.cli(
        "deployments", "create", "cli-dep", "--model", "admin/echo", "--max-instances", "2"
    )
    assert created.returncode == 0, created.stderr
    assert "admin/cli-dep" in created.stdout
    listed = server.cli("deployments", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "cli-dep" in [d["name"] for d in json.loads(listed.stdout)]
    table = server.cli("deployments", "list")
    assert "admin/cli-dep" in table.stdout
    updated = server.cli("deployments", "update", "admin/cli-dep", "--min-instances", "1", "--json")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["current_release"]["number"] == 2
    # min_instances 1: a warm instance appears, and `modelyard instances` shows it.
    with server.http() as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            live = http.get("/v1/instances").json()["results"]
            warm = [i for i in live if i["deployment"] == "admin/cli-dep" and i["state"] == "idle"]
            if warm:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no warm instance: {live}")
    shown = server.cli("instances", "--json")
    assert shown.returncode == 0, shown.stderr
    mine = [i for i in json.loads(shown.stdout) if i["deployment"] == "admin/cli-dep"]
    assert mine[0]["hardware"] == "cpu" and mine[0]["gpu_indexes"] == []
    assert mine[0]["setup_time"] > 0 and mine[0]["uptime"] > 0
    human = server.cli("instances")
    assert mine[0]["id"] in human.stdout and "idle" in human.stdout

    bad = server.cli("deployments", "update", "admin/cli-dep", "--hardware", "gpu-h100")
    assert bad.returncode != 0
    assert "hardware" in bad.stderr and "Traceback" not in bad.stderr
    nothing = server.cli("deployments", "update", "admin/cli-dep")
    assert nothing.returncode != 0 and "Nothing to change" in nothing.stderr
    deleted = server.cli("deployments", "delete", "admin/cli-dep")
    assert deleted.returncode == 0, deleted.stderr
    cleanup.clear()
    gone = server.cli("deployments", "delete", "admin/cli-dep")
    assert gone.returncode != 0 and "does not exist" in gone.stderr
    # The deleted deployment's warm instance drains away.
    with server.http() as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            live = http.get("/v1/instances").json()["results"]
            if not [i for i in live if i["deployment"] == "admin/cli-dep"]:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the deleted deployment's instance kept running")


def test_a_deployed_version_cannot_be_deleted(server: Server) -> None:
    version = server.push("echo", "admin/echo-deployed")
    with server.http() as http:
        body = {
            "name": "pinned",
            "model": "admin/echo-deployed",
            "version": version,
            "hardware": "cpu",
            "min_instances": 0,
            "max_instances": 1,
        }
        assert http.post("/v1/deployments", json=body).status_code == 200
        path = f"/v1/models/admin/echo-deployed/versions/{version}"
        refused = http.delete(path)
        assert refused.status_code == 409 and "deployment" in refused.json()["detail"]
        assert http.delete("/v1/deployments/admin/pinned").status_code == 204
        assert http.delete(path).status_code == 202


STAINLESS_SCRIPT = r"""
import json, sys
from replicate import Replicate
url, token, version = sys.argv[1:4]
client = Replicate(bearer_token=token, base_url=url + "/v1")
out = {}
created = client.deployments.create(
    name="stainless-dep", model="admin/echo", version=version, hardware="cpu",
    min_instances=0, max_instances=1,
)
out["created"] = created.current_release.number
updated = client.deployments.update(
    deployment_owner="admin", deployment_name="stainless-dep", max_instances=2
)
release = updated.current_release
out["updated"] = [release.number, release.configuration.max_instances]
out["got"] = client.deployments.get(deployment_owner="admin", deployment_name="stainless-dep").name
out["listed"] = [d.name for d in client.deployments.list()]
p = client.deployments.predictions.create(
    deployment_owner="admin", deployment_name="stainless-dep", input={"text": "hi"}, prefer="wait"
)
out["prediction"] = [p.status, p.output]
client.deployments.delete(deployment_owner="admin", deployment_name="stainless-dep")
print(json.dumps(out))
"""


def test_stainless_client_deployments(server: Server) -> None:
    python = REPO / ".venv-stainless" / "bin" / "python"
    if not python.exists():
        pytest.fail("The stainless virtualenv is missing: run the suite through `make test`.")
    version = server.versions["echo"]  # type: ignore[attr-defined]
    result = subprocess.run(
        [str(python), "-c", STAINLESS_SCRIPT, server.url, server.token, version],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["created"] == 1
    assert out["updated"] == [2, 2]
    assert out["got"] == "stainless-dep"
    assert "stainless-dep" in out["listed"]
    assert out["prediction"] == ["succeeded", "hi"]
