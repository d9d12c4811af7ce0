"""The official `replicate==1.0.7` Python client against a real modelyard server."""

from __future__ import annotations

import time

import httpx
import pytest
import replicate
from replicate.exceptions import ModelError, ReplicateError

from tests.integration.harness import Server


def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.token, base_url=server.url)


def test_run_string_model(server: Server) -> None:
    assert client(server).run("admin/echo", input={"text": "Alice"}) == "Alice"


def test_run_with_version_ref(server: Server) -> None:
    version = server.versions["echo"]  # type: ignore[attr-defined]
    assert client(server).run(f"admin/echo:{version}", input={"text": "pinned"}) == "pinned"


def test_legacy_predictor_and_function_ref(server: Server) -> None:
    c = client(server)
    assert c.run("admin/legacy-predictor", input={"name": "Bob"}) == "hi Bob"
    assert c.run("admin/function-ref", input={"a": 4, "b": 5}) == 20


def test_concatenate_iterator_joined(server: Server) -> None:
    version = server.versions["tokens"]  # type: ignore[attr-defined]
    output = client(server).run(f"admin/tokens:{version}", input={"prefix": "hey", "pause": 0})
    assert "".join(output) == "hey world\nsecond line!"
    # The model path without a version returns the list once finished.
    assert (
        "".join(client(server).run("admin/tokens", input={"pause": 0}))
        == "hello world\nsecond line!"
    )


def test_path_output_downloads_over_http(server: Server) -> None:
    output = client(server).run("admin/image", input={"size": 4})
    # Over plain HTTP the official client leaves the URL as a string.
    assert isinstance(output, str) and output.startswith("http://")
    body = httpx.get(output).content  # no Authorization header
    assert body.startswith(b"\x89PNG") and len(body) > 40


def test_failing_model_raises_model_error(server: Server) -> None:
    with pytest.raises(ModelError) as info:
        client(server).run("admin/failing", input={"reason": "bad llama"})
    prediction = info.value.prediction
    assert prediction.status == "failed"
    assert "bad llama" in (prediction.error or "")
    # Logs printed before the failure are kept.
    assert "about to fail" in (client(server).predictions.get(prediction.id).logs or "")


def test_create_get_wait_and_metrics(server: Server) -> None:
    c = client(server)
    model = c.models.get("admin/echo")
    prediction = c.predictions.create(version=model.latest_version, input={"text": "x"})
    assert prediction.status == "starting"
    assert prediction.urls["get"].startswith(server.url)
    prediction.wait()
    assert prediction.status == "succeeded"
    assert prediction.output == "x"
    fetched = c.predictions.get(prediction.id)
    assert fetched.metrics["predict_time"] >= 0
    assert fetched.metrics["total_time"] >= fetched.metrics["predict_time"]
    assert fetched.completed_at and fetched.started_at
    assert "echoing 1 characters" in fetched.logs


def test_cancel_long_prediction(server: Server) -> None:
    c = client(server)
    prediction = c.predictions.create(model="admin/sleeper", input={"seconds": 60})
    deadline = time.time() + 60
    while c.predictions.get(prediction.id).status != "processing" and time.time() < deadline:
        time.sleep(0.1)
    canceled = c.predictions.cancel(prediction.id)
    assert canceled.status == "canceled"
    assert c.predictions.get(prediction.id).completed_at is not None
    # Cancel of a finished prediction returns it unchanged.
    assert c.predictions.cancel(prediction.id).status == "canceled"


def test_models_versions_hardware_account(server: Server) -> None:
    c = client(server)
    model = c.models.get("admin/typed")
    assert model.owner == "admin" and model.name == "typed" and model.visibility == "private"
    schema = model.latest_version.openapi_schema["components"]["schemas"]
    assert {"Input", "Output"} <= set(schema)
    versions = model.versions.list()
    assert versions.results[0].id == model.latest_version.id
    assert model.versions.get(model.latest_version.id).cog_version
    assert any(h.sku == "cpu" for h in c.hardware.list())
    account = c.accounts.current()
    assert account.username == "admin" and account.type == "user"


def test_predictions_list_pages(server: Server) -> None:
    c = client(server)
    with server.http() as http:
        version = server.versions["function-ref"]  # type: ignore[attr-defined]
        for _ in range(105):
            r = http.post("/v1/predictions", json={"version": version, "input": {"a": 1, "b": 1}})
            assert r.status_code == 201
    first = c.predictions.list()
    assert len(first.results) == 100
    assert first.next and first.next.startswith(server.url)
    second = c.predictions.list(first.next)
    assert second.results
    ids = [p.id for p in first.results] + [p.id for p in second.results]
    assert len(ids) == len(set(ids))
    created = [p.created_at for p in first.results]
    assert created == sorted(created, reverse=True)


def test_unknown_model_and_version(server: Server) -> None:
    c = client(server)
    with pytest.raises(ReplicateError) as info:
        c.models.get("admin/does-not-exist")
    assert info.value.status == 404
    with pytest.raises(ReplicateError) as info:
        c.predictions.create(version="0" * 64, input={})
    assert info.value.status == 422
    assert info.value.title == "Invalid version or not permitted"
