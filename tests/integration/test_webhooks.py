"""Webhooks: Standard Webhooks signatures, filters, throttling, retries across a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

import httpx
import replicate
from standardwebhooks import Webhook

from tests.integration.harness import Server
from tests.integration.receiver import receiver


def client(server: Server) -> replicate.Client:
    return replicate.Client(api_token=server.token, base_url=server.url)


def events(deliveries: list) -> list[str]:  # type: ignore[type-arg]
    return [json.loads(d.body)["status"] for d in deliveries]


def test_signed_deliveries_validate_with_both_libraries(server: Server) -> None:
    c = client(server)
    secret = c.webhooks.default.secret()
    assert secret.key.startswith("whsec_")
    with receiver() as rec:
        prediction = c.predictions.create(
            model="admin/echo", input={"text": "hook"}, webhook=f"{rec.url}/hook?ref=42"
        )
        prediction.wait()
        found = rec.wait_for(1, predicate=lambda d: json.loads(d.body)["status"] == "succeeded")
    delivery = found[0]
    assert delivery.path == "/hook?ref=42"
    c.webhooks.validate(headers=delivery.headers, body=delivery.body.decode(), secret=secret)
    Webhook(secret.key).verify(delivery.body, delivery.headers)
    body = json.loads(delivery.body)
    # The payload is the prediction as GET returns it.
    fetched = server.http().get(f"/v1/predictions/{prediction.id}").json()
    assert body == fetched


def test_filter_start_and_completed(server: Server) -> None:
    with receiver() as rec, server.http() as http:
        r = http.post(
            "/v1/models/admin/ticker/predictions",
            json={
                "input": {"count": 10, "interval": 0.05},
                "webhook": rec.url,
                "webhook_events_filter": ["start", "completed"],
            },
        )
        prediction_id = r.json()["id"]
        rec.wait_for(2)
        time.sleep(1.0)  # nothing else may arrive
        statuses = events(rec.deliveries)
    assert statuses == ["starting", "succeeded"]
    assert all(json.loads(d.body)["id"] == prediction_id for d in rec.deliveries)


def test_output_deliveries_are_throttled(server: Server) -> None:
    with receiver() as rec, server.http() as http:
        r = http.post(
            "/v1/models/admin/ticker/predictions",
            json={
                "input": {"count": 40, "interval": 0.05},
                "webhook": rec.url,
                "webhook_events_filter": ["output"],
            },
        )
        prediction_id = r.json()["id"]
        deadline = time.time() + 30
        while (
            http.get(f"/v1/predictions/{prediction_id}").json()["status"] != "succeeded"
            and time.time() < deadline
        ):
            time.sleep(0.1)
        time.sleep(1.0)
        attempts = http.get(f"/v1/predictions/{prediction_id}/webhooks").json()["results"]
    assert len(rec.deliveries) >= 3, "a 2 s stream should give several output deliveries"
    assert len(rec.deliveries) == len(attempts) <= 6
    # Spacing is the platform's promise when it sends; arrival adds the network's jitter.
    sent = [datetime.fromisoformat(a["at"].replace("Z", "+00:00")) for a in attempts]
    gaps = [(b - a).total_seconds() for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 0.495, gaps
    assert all(json.loads(d.body)["status"] == "processing" for d in rec.deliveries)


def test_completed_is_retried_with_the_same_id(server: Server) -> None:
    with receiver() as rec, server.http() as http:
        rec.statuses = [500, 500]
        r = http.post(
            "/v1/models/admin/echo/predictions",
            json={
                "input": {"text": "retry"},
                "webhook": rec.url,
                "webhook_events_filter": ["completed"],
            },
        )
        prediction_id = r.json()["id"]
        found = rec.wait_for(3, timeout=30)
        ids = {d.headers["webhook-id"] for d in found}
        assert len(found) == 3 and len(ids) == 1
        # An attempt is recorded once its answer is back: the last one may land just after.
        deadline = time.monotonic() + 10
        while True:
            attempts = http.get(f"/v1/predictions/{prediction_id}/webhooks").json()["results"]
            if len(attempts) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert attempts[0]["error"] and attempts[-1]["error"] is None
    assert {a["webhook_id"] for a in attempts} == ids


def test_completed_survives_a_platform_restart(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(
        MODELYARD_ALLOW_PRIVATE_NETWORKS="1", MODELYARD_WEBHOOK_RETRY_BASE="3"
    ).start()
    srv.push("echo", "admin/echo")
    with receiver() as rec:
        rec.statuses = [503]
        with srv.http() as http:
            http.post(
                "/v1/models/admin/echo/predictions",
                json={
                    "input": {"text": "x"},
                    "webhook": rec.url,
                    "webhook_events_filter": ["completed"],
                },
            )
        rec.wait_for(1)
        srv.kill()  # between the first attempt and its retry
        time.sleep(0.5)
        assert len(rec.deliveries) == 1
        srv.start()
        found = rec.wait_for(2, timeout=30)
    assert found[0].headers["webhook-id"] == found[1].headers["webhook-id"]
    assert json.loads(found[1].body)["status"] == "succeeded"


def test_private_webhook_and_input_urls_are_refused_by_default(
    server_factory: Callable[..., Server],
) -> None:
    srv = server_factory().start()
    srv.push("filesize", "admin/filesize")
    with srv.http() as http:
        r = http.post(
            "/v1/models/admin/filesize/predictions",
            json={
                "input": {"file": "data:text/plain;base64,aGk="},
                "webhook": "http://127.0.0.1:9/hook",
            },
        )
        assert r.status_code == 422 and "webhook" in r.json()["detail"]
        assert "allow-private-networks" in r.json()["detail"]
        r = http.post(
            "/v1/models/admin/filesize/predictions",
            json={"input": {"file": "http://169.254.169.254/latest"}},
        )
        assert r.status_code == 422 and "file" in r.json()["detail"]
        assert http.get("/v1/predictions").json()["results"] == []


def test_unknown_filter_event_is_422(server: Server) -> None:
    r = httpx.post(
        f"{server.url}/v1/models/admin/echo/predictions",
        headers={"Authorization": f"Bearer {server.token}"},
        json={
            "input": {"text": "x"},
            "webhook": "http://127.0.0.1:9/",
            "webhook_events_filter": ["sometimes"],
        },
    )
    assert r.status_code == 422 and "webhook_events_filter" in r.json()["detail"]
