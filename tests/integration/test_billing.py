"""Billing: the ledger equals Σ predict_time × price on two SKUs, `modelyard usage` agrees,
private models pay for instance time, and credit mode refuses with 402 until a top-up."""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import MODELS, Server

PRICES = {"cpu": 0.0001, "gpu-t4": 0.000225}


def model_dir(tmp_path: Path, scenario: str, marker: str) -> Path:
    directory = tmp_path / marker
    shutil.copytree(MODELS / scenario, directory)
    (directory / "marker.txt").write_text(marker)  # a version id of its own
    return directory


def create_model(http: httpx.Client, name: str, hardware: str, visibility: str) -> None:
    body = {"owner": "admin", "name": name, "hardware": hardware, "visibility": visibility}
    r = http.post("/v1/models", json=body)
    assert r.status_code == 201, r.text


def run(http: httpx.Client, model: str, seconds: float) -> dict:  # type: ignore[type-arg]
    r = http.post(
        f"/v1/models/{model}/predictions",
        json={"input": {"seconds": seconds}},
        headers={"Prefer": "wait"},
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    deadline = time.time() + 120
    while (row := http.get(f"/v1/predictions/{pid}").json())["status"] != "succeeded":
        assert time.time() < deadline and row["status"] in ("starting", "processing"), row
        time.sleep(0.1)
    return row  # type: ignore[no-any-return]


def test_ledger_is_predict_time_times_price_on_two_skus(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    srv = server_factory(MODELYARD_HARDWARE="gpu-t4=2").start()
    with srv.http() as http:
        create_model(http, "on-cpu", "cpu", "public")
        create_model(http, "on-t4", "gpu-t4", "public")
        srv.push(model_dir(tmp_path, "sleeper", "cpu"), "admin/on-cpu")
        srv.push(model_dir(tmp_path, "sleeper", "t4"), "admin/on-t4")
        rows = [run(http, "admin/on-cpu", s) for s in (0.1, 0.3)]
        rows += [run(http, "admin/on-t4", s) for s in (0.2, 0.05, 0.4)]
        expected = 0.0
        for row in rows:
            price = PRICES["gpu-t4" if row["model"] == "admin/on-t4" else "cpu"]
            cost = row["metrics"]["predict_time"] * price
            assert row["cost_usd"] == pytest.approx(cost, rel=1e-9, abs=1e-12)
            expected += cost
        report = http.get("/v1/usage", params={"group_by": "hardware"}).json()
        assert report["total_usd"] == pytest.approx(expected, rel=1e-9)
        groups = {g["key"]: g for g in report["groups"]}
        assert set(groups) == {"cpu", "gpu-t4"}
        assert groups["cpu"]["predictions"] == 2 and groups["gpu-t4"]["predictions"] == 3
        t4_seconds = sum(r["metrics"]["predict_time"] for r in rows if r["model"] == "admin/on-t4")
        assert groups["gpu-t4"]["seconds"] == pytest.approx(t4_seconds, abs=1e-5)
        by_model = http.get("/v1/usage", params={"group_by": "model"}).json()
        assert {g["key"] for g in by_model["groups"]} == {"admin/on-cpu", "admin/on-t4"}
        by_day = http.get("/v1/usage", params={"group_by": "day"}).json()
        assert by_day["total_usd"] == pytest.approx(expected, rel=1e-9)
        assert http.get("/v1/usage", params={"group_by": "colour"}).status_code == 400
        later = http.get("/v1/usage", params={"start": "2099-01-01"})
        assert later.status_code == 400  # end (now) before start
    # The CLI prints the same totals.
    result = srv.cli("usage", "--group-by", "hardware", "--csv")
    assert result.returncode == 0, result.stderr
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(lines[0]) == ["key", "predictions", "seconds", "usd"]
    assert sum(float(line["usd"]) for line in lines) == pytest.approx(expected, rel=1e-9)
    assert {line["key"]: int(line["predictions"]) for line in lines} == {"cpu": 2, "gpu-t4": 3}
    table = srv.cli("usage", "--group-by", "hardware")
    assert table.returncode == 0 and f"${expected:.8f}" in table.stdout, table.stdout


def test_private_models_pay_for_the_whole_instance_time(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    srv = server_factory(MODELYARD_IDLE_TIMEOUT="1").start()
    with srv.http() as http:
        create_model(http, "mine", "cpu", "private")
        srv.push(model_dir(tmp_path, "sleeper", "private"), "admin/mine")
        row = run(http, "admin/mine", 0.2)
        # The instance scales to zero after a second idle: setup, busy and idle are all billed.
        deadline = time.time() + 60
        while True:
            group = http.get("/v1/usage", params={"group_by": "model"}).json()["groups"][0]
            if group["seconds"] > row["metrics"]["predict_time"] + 1.0 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert group["key"] == "admin/mine" and group["predictions"] == 1
        assert group["seconds"] > row["metrics"]["predict_time"] + 1.0  # idle ≥ 1 s
        assert group["usd"] == pytest.approx(group["seconds"] * PRICES["cpu"], rel=1e-6)
        assert group["usd"] > row["cost_usd"]


def test_credit_mode_402_then_top_up(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    srv = server_factory(MODELYARD_BILLING="credit", MODELYARD_STARTING_CREDIT="0.000001").start()
    with srv.http() as http:
        create_model(http, "paid", "cpu", "public")
        srv.push(model_dir(tmp_path, "sleeper", "paid"), "admin/paid")
        first = run(http, "admin/paid", 0.1)  # costs ~$0.00001: more than the credit
        assert first["cost_usd"] > 0.000001
        refused = http.post("/v1/models/admin/paid/predictions", json={"input": {"seconds": 0}})
        assert refused.status_code == 402
        assert refused.headers["content-type"].startswith("application/problem+json")
        body = refused.json()
        assert body["title"] == "Billing required" and "modelyard credit add" in body["detail"]
        balance = http.get("/v1/account/credit").json()
        assert balance["billing"] == "credit" and balance["balance_usd"] < 0
        added = srv.cli("credit", "add", "admin", "1")
        assert added.returncode == 0, added.stderr
        again = http.post("/v1/models/admin/paid/predictions", json={"input": {"seconds": 0}})
        assert again.status_code == 201, again.text
        assert http.get("/v1/account/credit").json()["balance_usd"] > 0.99
