"""What a Replicate or Cog user meets first (issue 12), through the official Python client:
404s for missing models, null inputs, list outputs in order, predictions on a building model."""

from __future__ import annotations

import concurrent.futures
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.integration.harness import BIN, MODELS, Server

NOT_FOUND = {"detail": "The requested resource could not be found.", "status": 404}


def client(server: Server, token: str | None = None) -> replicate.Client:
    return replicate.Client(api_token=token or server.token, base_url=server.url)


def other_user_token(server: Server, name: str) -> str:
    with server.http() as http:
        http.post("/v1/users", json={"username": name})  # 409 when a rerun made it already
    result = server.cli("tokens", "create", "--user", name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_model_predictions_on_a_missing_or_private_model_are_404(server: Server) -> None:
    with server.http() as http:
        http.post(
            "/v1/models",
            json={"owner": "admin", "name": "hidden", "visibility": "private", "hardware": "cpu"},
        )
    outsider = client(server, other_user_token(server, "outsider12"))
    answers = []
    for model in ("admin/hidden", "admin/no-such-model", "nobody/nothing"):
        with pytest.raises(ReplicateError) as caught:
            outsider.models.predictions.create(model=model, input={"text": "hi"})
        assert caught.value.status == 404
        answers.append(caught.value.detail)
    assert set(answers) == {NOT_FOUND["detail"]}  # a private model looks exactly like none
    raw = httpx.post(
        f"{server.url}/v1/models/admin/hidden/predictions",
        json={"input": {}},
        headers={"Authorization": f"Bearer {server.token}x"},
    )
    assert raw.status_code == 401
    with server.http() as http:
        body = http.post("/v1/models/nobody/nothing/predictions", json={"input": {}}).json()
        assert {k: body[k] for k in NOT_FOUND} == NOT_FOUND
        # An unknown version in POST /v1/predictions stays Replicate's 422.
        unknown = http.post("/v1/predictions", json={"version": "f" * 64, "input": {}})
        assert unknown.status_code == 422
        assert unknown.json()["title"] == "Invalid version or not permitted"


def test_null_for_an_input_that_is_not_optional_is_refused(server: Server) -> None:
    with pytest.raises(ReplicateError) as caught:
        client(server).run("admin/typed", input={"name": "x", "count": None})
    assert caught.value.status == 422
    assert "count" in str(caught.value.detail) and "null" in str(caught.value.detail)
    with pytest.raises(ReplicateError) as required:
        client(server).run("admin/typed", input={"name": None})
    assert required.value.status == 422 and "name" in str(required.value.detail)


def test_list_of_files_keeps_the_models_order_under_load(server: Server) -> None:
    server.push("file-list", "admin/file-list")
    c = client(server)
    sizes = [300_000, 10, 120_000, 1, 700_000, 5, 40_000]

    def run(round_: int) -> list[int]:
        wanted = sizes[round_ % 3 : round_ % 3 + 3 + round_ % 5]
        prediction = c.models.predictions.create(model="admin/file-list", input={"sizes": wanted})
        prediction.wait()
        assert prediction.status == "succeeded", prediction.error
        assert len(prediction.output) == len(wanted)
        with httpx.Client(timeout=60) as anon:
            return [int(anon.get(url).content.split(b":")[0]) for url in prediction.output]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        orders = list(pool.map(run, range(40)))
    assert all(order == list(range(len(order))) for order in orders), orders


def slow_model(tmp_path: Path, command: str) -> Path:
    """The echo model with a build step that takes a while (unique, so never cached)."""
    directory = tmp_path / f"slow-{uuid.uuid4().hex[:8]}"
    shutil.copytree(MODELS / "echo", directory)
    (directory / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  run:\n'
        f'    - "echo building {uuid.uuid4().hex}; {command}"\nrun: "predict.py:Runner"\n'
    )
    return directory


def start_push(server: Server, directory: Path, model: str) -> subprocess.Popen[str]:
    with server.http() as http:
        http.post("/v1/models", json={"owner": "admin", "name": model.split("/")[1]})
    return subprocess.Popen(
        [str(BIN / "modelyard"), "push", str(directory), model],
        env=server.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_building(server: Server, model: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    with server.http() as http:
        while time.monotonic() < deadline:
            found = http.get(f"/v1/models/{model}").json().get("building_version")
            if found:
                return str(found)
            time.sleep(0.1)
    log = server.log_path.read_text()[-3000:] if server.log_path.exists() else ""
    raise AssertionError(f"{model} never showed a building version; server log:\n{log}")


def test_prediction_on_a_model_whose_build_is_in_flight_waits_for_it(
    server: Server, tmp_path: Path
) -> None:
    push = start_push(server, slow_model(tmp_path, "sleep 8"), "admin/slow-build")
    building = wait_building(server, "admin/slow-build")
    c = client(server)
    started = time.monotonic()
    with server.http() as http:
        held = http.post(
            "/v1/models/admin/slow-build/predictions",
            json={"input": {"text": "patience"}},
            headers={"Prefer": "wait=2"},
        )
    assert held.status_code == 201
    assert time.monotonic() - started < 4  # Prefer: wait answered within its window
    assert held.json()["status"] == "starting" and held.json()["version"] == building
    prediction = c.models.predictions.create(model="admin/slow-build", input={"text": "hi"})
    assert prediction.status == "starting"
    deadline = time.monotonic() + 30
    while "building" not in (c.predictions.get(prediction.id).logs or ""):
        assert time.monotonic() < deadline, "the build's progress never reached the logs"
        time.sleep(0.2)
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == "hi" and prediction.version == building
    first = c.predictions.get(held.json()["id"])
    first.wait()
    assert first.status == "succeeded" and first.output == "patience"
    assert push.wait(120) == 0
    with server.http() as http:
        assert "building_version" not in http.get("/v1/models/admin/slow-build").json()


def test_prediction_on_a_build_that_fails_fails_with_its_error(
    server: Server, tmp_path: Path
) -> None:
    push = start_push(server, slow_model(tmp_path, "sleep 4; exit 3"), "admin/broken-build")
    wait_building(server, "admin/broken-build")
    prediction = client(server).models.predictions.create(
        model="admin/broken-build", input={"text": "hi"}
    )
    prediction.wait()
    assert prediction.status == "failed"
    assert "build" in (prediction.error or "")
    assert push.wait(120) != 0
    with server.http() as http:  # a failed build leaves nothing runnable
        again = http.post("/v1/models/admin/broken-build/predictions", json={"input": {}})
        assert again.status_code == 422


def test_fresh_serve_runs_a_prediction_made_before_its_builtin_is_built(
    server_factory: object, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    shutil.copytree(slow_model(tmp_path, "sleep 6"), catalog / "hello-slow")
    srv = server_factory(  # type: ignore[operator]
        MODELYARD_REGISTER_BUILTIN_MODELS="1",
        MODELYARD_CATALOG_DIR=str(catalog),
        MODELYARD_BUILTIN_MODELS="hello-slow",
    ).start()
    wait_building(srv, "modelyard/hello-slow")
    prediction = client(srv).models.predictions.create(
        model="modelyard/hello-slow", input={"text": "first run"}
    )
    assert prediction.status == "starting"
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    assert prediction.output == "first run"


def test_a_model_and_a_deployment_set_their_own_prediction_timeout(server: Server) -> None:
    with server.http() as http:
        made = http.post(
            "/v1/models",
            json={"owner": "admin", "name": "quick-sleeper", "prediction_timeout": 1.5},
        )
        assert made.status_code == 201 and made.json()["prediction_timeout"] == 1.5
    version = server.push("sleeper", "admin/quick-sleeper")
    c = client(server)
    prediction = c.models.predictions.create(model="admin/quick-sleeper", input={"seconds": 20})
    prediction.wait()
    assert prediction.status == "failed" and "timed out after 1.5 seconds" in prediction.error
    with server.http() as http:
        deployment = http.post(
            "/v1/deployments",
            json={
                "name": "patient",
                "model": "admin/quick-sleeper",
                "version": version,
                "hardware": "cpu",
                "min_instances": 0,
                "max_instances": 1,
                "prediction_timeout": 30,
            },
        )
        assert deployment.status_code == 200, deployment.text
        configuration = deployment.json()["current_release"]["configuration"]
        assert configuration["prediction_timeout"] == 30
    slow = c.deployments.predictions.create("admin/patient", input={"seconds": 3})
    slow.wait()
    assert slow.status == "succeeded", slow.error  # the deployment's limit, not the model's
    with server.http() as http:
        http.patch("/v1/deployments/admin/patient", json={"prediction_timeout": 1})
    cut = c.deployments.predictions.create("admin/patient", input={"seconds": 20})
    cut.wait()
    assert cut.status == "failed" and "timed out after 1 seconds" in cut.error


def test_a_model_sets_its_own_instance_cap(server: Server) -> None:
    with server.http() as http:
        made = http.post(
            "/v1/models", json={"owner": "admin", "name": "wide-sleeper", "max_instances": 2}
        )
        assert made.status_code == 201 and made.json()["max_instances"] == 2
    server.push("sleeper", "admin/wide-sleeper")
    c = client(server)
    predictions = [
        c.models.predictions.create(model="admin/wide-sleeper", input={"seconds": 5})
        for _ in range(3)
    ]
    for prediction in predictions:
        prediction.wait()
        assert prediction.status == "succeeded", prediction.error
    with server.http() as http:  # instance_id is an extension the client does not model
        instances = {http.get(f"/v1/predictions/{p.id}").json()["instance_id"] for p in predictions}
    assert len(instances) == 2  # the model's cap, above the installation's default of 1


def test_serve_takes_max_instances_as_a_flag(server: Server) -> None:
    refused = server.cli("serve", "--max-instances", "0", "--port", "1", timeout=60)
    assert refused.returncode == 2 and "--max-instances" in refused.stdout + refused.stderr
