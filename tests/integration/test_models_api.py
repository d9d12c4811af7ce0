"""Models and versions management: search, create, delete; runtime limits and setup failures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from tests.integration.harness import Server


def test_query_search_accepts_every_client_encoding(server: Server) -> None:
    with server.http() as http:
        for body, ctype in (
            # A text no other model of the shared server matches (admin/cli-types is pushed too).
            ("typed", "text/plain"),
            ('"typed"', "text/plain"),
            (json.dumps("typed"), "application/json"),
        ):
            r = http.request("QUERY", "/v1/models", content=body, headers={"Content-Type": ctype})
            assert r.status_code == 200, r.text
            names = [m["name"] for m in r.json()["results"]]
            assert names == ["typed"]


def test_create_and_delete_model(server: Server) -> None:
    with server.http() as http:
        body = {"owner": "admin", "name": "scratch", "visibility": "private", "hardware": "cpu"}
        r = http.post("/v1/models", json=body)
        assert r.status_code == 201 and r.json()["url"].startswith(server.url)
        assert http.post("/v1/models", json=body).status_code == 409
        assert http.post("/v1/models", json={**body, "owner": "someone-else"}).status_code == 400
        assert http.delete("/v1/models/admin/scratch").status_code == 204
        assert http.get("/v1/models/admin/scratch").status_code == 404


def test_delete_unused_version(server: Server) -> None:
    version = server.push("legacy-predictor", "admin/deletable")
    with server.http() as http:
        assert http.delete(f"/v1/models/admin/deletable/versions/{version}").status_code == 202
        assert http.get(f"/v1/models/admin/deletable/versions/{version}").status_code == 404
        assert http.get("/v1/models/admin/deletable").json()["latest_version"] is None
        # A version with predictions is kept.
        used = server.versions["echo"]  # type: ignore[attr-defined]
        ran = http.post("/v1/predictions", json={"version": used, "input": {"text": "keep"}})
        assert ran.status_code == 201
        assert http.delete(f"/v1/models/admin/echo/versions/{used}").status_code == 409


def test_setup_failure_fails_waiting_predictions_with_the_setup_logs(server: Server) -> None:
    server.push("setup-fails", "admin/setup-fails")
    with server.http() as http:
        r = http.post(
            "/v1/models/admin/setup-fails/predictions",
            json={"input": {}},
            headers={"Prefer": "wait=60"},
        )
        body = r.json()
        if body["status"] not in ("failed", "succeeded", "canceled"):
            body = _wait(http, body["id"])
    assert body["status"] == "failed"
    assert "the weights file is corrupt" in body["error"] + (body["logs"] or "")


def test_prediction_timeout(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(MODELYARD_PREDICTION_TIMEOUT="2").start()
    srv.push("sleeper", "admin/sleeper")
    with srv.http() as http:
        created = http.post(
            "/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 30}}
        ).json()
        body = _wait(http, created["id"])
        assert body["status"] == "failed" and "timed out after 2 seconds" in body["error"]
        r = http.post(
            "/v1/models/admin/sleeper/predictions",
            json={"input": {"seconds": 0.1}},
            headers={"Prefer": "wait=60"},
        )
        assert r.json()["status"] == "succeeded"


def _wait(http: httpx.Client, prediction_id: str, timeout: float = 90) -> dict:  # type: ignore[type-arg]
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = http.get(f"/v1/predictions/{prediction_id}").json()
        if body["status"] in ("succeeded", "failed", "canceled"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{prediction_id} did not finish")
