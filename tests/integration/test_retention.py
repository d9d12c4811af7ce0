"""Retention: a finished API prediction loses its input, output, logs and files."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.integration.harness import Server


def test_data_removed_after_retention(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(MODELYARD_RETENTION="2s").start()
    srv.push("image", "admin/image")
    with srv.http() as http:
        r = http.post(
            "/v1/models/admin/image/predictions",
            json={"input": {"size": 4}},
            headers={"Prefer": "wait"},
        )
        assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
        prediction = r.json()
        url = prediction["output"]
        assert httpx.get(url).status_code == 200
        assert prediction["data_removed"] is False
        deadline = time.time() + 30
        while not (row := http.get(f"/v1/predictions/{prediction['id']}").json())["data_removed"]:
            assert time.time() < deadline, row
            time.sleep(0.25)
        assert row["input"] == {} and row["output"] is None and row["logs"] == ""
        assert row["status"] == "succeeded" and row["metrics"]["predict_time"] > 0
        assert row["cost_usd"] == prediction["cost_usd"] > 0
        assert httpx.get(url).status_code == 404
