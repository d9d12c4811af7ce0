"""Trainings: the official clients train a model, the destination runs with the new weights."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import replicate
from replicate.training import Training
from standardwebhooks import Webhook

from tests.integration.harness import REPO, Server
from tests.integration.receiver import receiver
from tests.integration.test_stainless_client import STAINLESS_PYTHON

TERMINAL = ("succeeded", "failed", "canceled")


@pytest.fixture(scope="module")
def trainable(server: Server) -> Iterator[str]:
    """admin/trainable pushed once; yields its version ref."""
    version = server.push("trainable", "admin/trainable")
    yield f"admin/trainable:{version}"


def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.token, base_url=server.url)


def destination(server: Server, name: str) -> str:
    with server.http() as http:
        r = http.post(
            "/v1/models",
            json={"owner": "admin", "name": name, "visibility": "private", "hardware": "cpu"},
        )
        assert r.status_code == 201, r.text
    return f"admin/{name}"


def lines_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait(training: Training, timeout: float = 120) -> Training:
    """Poll until the training ends (replicate 1.0.7's Training has reload(), no wait())."""
    deadline = time.monotonic() + timeout
    while training.status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        training.reload()
    return training


def versions_of(server: Server, model: str) -> list[str]:
    with server.http() as http:
        return [v["id"] for v in http.get(f"/v1/models/{model}/versions").json()["results"]]


def test_python_client_trains_and_the_destination_runs_the_weights(
    server: Server, trainable: str, tmp_path: Path
) -> None:
    c = client(server)
    dest = destination(server, "lines")
    assert c.run(trainable, input={"prompt": "q"}) == "untrained: q"
    with lines_file(tmp_path, "alpha", "beta").open("rb") as handle:
        training = c.trainings.create(version=trainable, input={"lines": handle}, destination=dest)
    assert training.status == "starting"
    assert training.urls is not None
    assert training.urls["get"] == f"{server.url}/v1/trainings/{training.id}"
    training = wait(training)
    assert training.status == "succeeded", training.error
    assert training.output is not None
    new_version = training.output["version"]
    assert new_version.startswith(f"{dest}:") and training.destination == dest
    assert "learning line 2/2" in (training.logs or "")
    weights = httpx.get(training.output["weights"])
    assert weights.status_code == 200 and weights.text == "alpha\nbeta\n"
    # The destination runs the trained weights, by its version and as its latest version.
    assert c.run(new_version, input={"prompt": "q"}) == "q: alpha | beta"
    assert c.run(dest, input={"prompt": "r"}) == "r: alpha | beta"
    assert c.run(trainable, input={"prompt": "q"}) == "untrained: q"  # the base is unchanged
    # Read back, listed apart from predictions, and the version says which training made it.
    assert c.trainings.get(training.id).output["version"] == new_version
    assert training.id in [t.id for t in c.trainings.list().results]
    assert training.id not in [p.id for p in c.predictions.list().results]
    with server.http() as http:
        version = http.get(f"/v1/models/{dest}/versions/{new_version.split(':')[1]}").json()
    assert version["training_id"] == training.id
    assert "TrainingInput" in version["openapi_schema"]["components"]["schemas"]
    # The same weights on the same source are the same version.
    with lines_file(tmp_path, "alpha", "beta").open("rb") as handle:
        again = wait(
            c.trainings.create(version=trainable, input={"lines": handle}, destination=dest)
        )
    assert again.status == "succeeded" and again.output["version"] == new_version
    assert versions_of(server, dest) == [new_version.split(":")[1]]


def test_trainable_version_shows_its_training_schema(server: Server, trainable: str) -> None:
    owner_name, version = trainable.split(":")
    with server.http() as http:
        schema = http.get(f"/v1/models/{owner_name}/versions/{version}").json()["openapi_schema"]
    schemas = schema["components"]["schemas"]
    assert schemas["TrainingInput"]["required"] == ["lines"]
    assert schemas["TrainingInput"]["properties"]["pause"]["maximum"] == 120
    assert schemas["TrainingOutput"]["properties"]["weights"]["format"] == "uri"
    assert "/trainings" in schema["paths"]


def test_bad_requests_are_clear_problems(server: Server, trainable: str, tmp_path: Path) -> None:
    dest = destination(server, "refusals")
    owner_name, version = trainable.split(":")
    echo = server.versions["echo"]  # type: ignore[attr-defined]
    with server.http() as http:
        url = f"/v1/models/{owner_name}/versions/{version}/trainings"
        data = "data:text/plain;base64,YQo="
        r = http.post(
            f"/v1/models/admin/echo/versions/{echo}/trainings", json={"destination": dest}
        )
        assert r.status_code == 400 and "train:" in r.json()["detail"]
        for missing in ("admin/no-such-model", "not a model"):
            r = http.post(url, json={"destination": missing, "input": {"lines": data}})
            assert r.status_code == 404, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "destination does not exist" in r.json()["detail"]
        r = http.post(url, json={"input": {"lines": data}})
        assert r.status_code == 422 and "destination" in r.json()["detail"]
        r = http.post(url, json={"destination": dest, "input": {"pause": -1}})
        assert r.status_code == 422
        assert "lines" in r.json()["detail"] and "pause" in r.json()["detail"]
        assert http.post("/v1/users", json={"username": "trainee"}).status_code in (201, 409)
        other = http.post("/v1/account/tokens", json={"account": "trainee"}).json()["token"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {other}"}) as bob:
        # Another user's model is not a destination, even of a public version.
        r = bob.post(url, json={"destination": dest, "input": {"lines": data}})
        assert r.status_code in (404, 422), r.text
        assert bob.get("/v1/trainings").json()["results"] == []
    assert versions_of(server, dest) == []


def test_cancel_a_long_training_makes_no_version(
    server: Server, trainable: str, tmp_path: Path
) -> None:
    c = client(server)
    dest = destination(server, "canceled")
    with lines_file(tmp_path, "one", "two").open("rb") as handle:
        training = c.trainings.create(
            version=trainable, input={"lines": handle, "pause": 60}, destination=dest
        )
    deadline = time.monotonic() + 120
    while "learning line 1/2" not in (training.logs or "") and time.monotonic() < deadline:
        time.sleep(0.2)
        training.reload()
    assert training.status == "processing"  # and its logs arrived while it ran
    c.trainings.cancel(training.id)
    training = wait(training, timeout=30)
    assert training.status == "canceled"
    assert training.output is None and versions_of(server, dest) == []


def test_a_failing_train_makes_no_version(server: Server, trainable: str, tmp_path: Path) -> None:
    c = client(server)
    dest = destination(server, "failed")
    with lines_file(tmp_path, "x").open("rb") as handle:
        training = wait(
            c.trainings.create(
                version=trainable, input={"lines": handle, "fail": True}, destination=dest
            )
        )
    assert training.status == "failed"
    assert "ValueError: the training data is unusable" in (training.error or "")
    assert versions_of(server, dest) == []


def test_training_webhooks_are_filtered_and_signed(server: Server, trainable: str) -> None:
    c = client(server)
    dest = destination(server, "hooked")
    secret = c.webhooks.default.secret()
    with receiver() as rec:
        training = c.trainings.create(
            version=trainable,
            input={"lines": "data:text/plain;base64,aG9vawo="},
            destination=dest,
            webhook=f"{rec.url}/training",
            webhook_events_filter=["start", "completed"],
        )
        rec.wait_for(2)
        time.sleep(1.0)  # nothing else may arrive
    statuses = [json.loads(d.body)["status"] for d in rec.deliveries]
    assert statuses == ["starting", "succeeded"]
    last = rec.deliveries[-1]
    c.webhooks.validate(headers=last.headers, body=last.body.decode(), secret=secret)
    Webhook(secret.key).verify(last.body, last.headers)
    payload = json.loads(last.body)
    with server.http() as http:
        fetched = http.get(f"/v1/trainings/{training.id}").json()
    # The training object as GET returns it (the weights' signed URL is signed anew each time).
    assert payload["output"].pop("weights").startswith(f"{server.url}/v1/deliveries/")
    fetched["output"].pop("weights")
    assert payload == fetched and payload["destination"] == dest
    assert payload["output"]["version"].startswith(f"{dest}:")


def test_trainings_are_metered_with_their_own_kind(server: Server, trainable: str) -> None:
    c = client(server)
    dest = destination(server, "metered")
    training = wait(
        c.trainings.create(
            version=trainable, input={"lines": "data:text/plain;base64,bQo="}, destination=dest
        )
    )
    assert training.status == "succeeded"
    with server.http() as http:
        report = http.get("/v1/usage", params={"group_by": "model"}).json()
    group = next(g for g in report["groups"] if g["key"] == "admin/trainable")
    assert group["trainings"] >= 1


def test_stainless_client_trains(server: Server, trainable: str) -> None:
    dest = destination(server, "stainless")
    owner_name, version = trainable.split(":")
    owner, name = owner_name.split("/")
    script = r"""
import json, sys, time
from replicate import Replicate
url, token, owner, name, version, dest = sys.argv[1:]
client = Replicate(bearer_token=token, base_url=url + "/v1")
data = "data:text/plain;base64,c3RhaW5sZXNzCg=="
t = client.trainings.create(model_owner=owner, model_name=name, version_id=version,
                            destination=dest, input={"lines": data})
out = {"created": t.status}
for _ in range(600):
    t = client.trainings.get(training_id=t.id)
    if t.status in ("succeeded", "failed", "canceled"):
        break
    time.sleep(0.2)
out["done"] = [t.status, t.output.version if t.output else None]
slow = client.trainings.create(model_owner=owner, model_name=name, version_id=version,
                               destination=dest, input={"lines": data, "pause": 60})
while client.trainings.get(training_id=slow.id).status == "starting":
    time.sleep(0.2)
out["canceled"] = client.trainings.cancel(training_id=slow.id).status
out["listed"] = [x.id for x in client.trainings.list().results][:2]
out["ids"] = [slow.id, t.id]
print(json.dumps(out))
"""
    result = subprocess.run(
        [str(STAINLESS_PYTHON), "-c", script, server.url, server.token, owner, name, version, dest],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["created"] == "starting"
    assert out["done"][0] == "succeeded" and out["done"][1].startswith(f"{dest}:")
    assert out["canceled"] == "canceled"
    assert out["listed"] == out["ids"]
    c = client(server)
    assert c.run(out["done"][1], input={"prompt": "s"}) == "s: stainless"


def test_npm_client_trains(server: Server, trainable: str) -> None:
    node = shutil.which("node")
    js = REPO / "tests" / "js"
    if node is None or not (js / "node_modules" / "replicate").exists():
        pytest.fail(
            "Node.js and tests/js/node_modules are needed: run the suite through `make test`."
        )
    dest = destination(server, "npm")
    result = subprocess.run(
        [node, str(js / "training_check.mjs"), server.url, server.token, trainable, dest],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=js,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["created"] == "starting"
    assert out["done"] == "succeeded" and out["version"].startswith(f"{dest}:")
    assert out["run"] == "n: from node"
    assert out["canceled"] == "canceled"
    assert out["listed"] is True


def test_cli_trains_and_prints_the_new_version(
    server: Server, trainable: str, tmp_path: Path
) -> None:
    dest = destination(server, "from-cli")
    path = lines_file(tmp_path, "gamma", "delta")
    result = server.cli("train", trainable, "--destination", dest, "-i", f"lines=@{path}")
    assert result.returncode == 0, result.stderr
    new_version = result.stdout.strip().splitlines()[-1]
    assert new_version.startswith(f"{dest}:")
    assert "learning line 2/2" in result.stderr  # the logs, shown as they came
    assert client(server).run(new_version, input={"prompt": "c"}) == "c: gamma | delta"
    refused = server.cli("train", "admin/echo", "--destination", dest, "-i", "text=x")
    assert refused.returncode == 1 and "train:" in refused.stderr


def test_a_training_past_its_time_limit_fails_and_makes_no_version(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    srv = server_factory(MODELYARD_TRAINING_TIMEOUT="4").start()
    version = srv.push("trainable", "admin/trainable")
    c = client(srv)
    dest = destination(srv, "too-slow")
    began = time.monotonic()
    training = wait(
        c.trainings.create(
            version=f"admin/trainable:{version}",
            input={"lines": "data:text/plain;base64,YQo=", "pause": 60},
            destination=dest,
        )
    )
    assert training.status == "failed"
    assert training.error == "Training timed out after 4 seconds."
    assert time.monotonic() - began < 60 and versions_of(srv, dest) == []
    # Predictions keep their own limit (MODELYARD_PREDICTION_TIMEOUT): the version still runs.
    assert c.run(f"admin/trainable:{version}", input={"prompt": "p"}) == "untrained: p"


def test_trains_without_the_sandbox_too(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    """Unsandboxed, coglet's webhooks reach the platform's own port and COG_WEIGHTS is the
    file's path in the version's folder."""
    srv = server_factory(MODELYARD_SANDBOX="none").start()
    version = srv.push("trainable", "admin/trainable")
    c = client(srv)
    dest = destination(srv, "unsandboxed")
    with lines_file(tmp_path, "open", "air").open("rb") as handle:
        training = wait(
            c.trainings.create(
                version=f"admin/trainable:{version}", input={"lines": handle}, destination=dest
            )
        )
    assert training.status == "succeeded", training.error
    assert "learning line 2/2" in (training.logs or "")
    assert c.run(training.output["version"], input={"prompt": "u"}) == "u: open | air"
