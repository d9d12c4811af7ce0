"""Faults: a model worker killed mid-prediction, the platform killed with queued work, idling."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable

import httpx

from tests.integration.harness import Server, descendants, processes_with, worker_of


def wait_status(
    http: httpx.Client, prediction_id: str, statuses: set[str], timeout: float = 90
) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = http.get(f"/v1/predictions/{prediction_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{prediction_id} never reached {statuses}: {body}")


def worker_pid(http: httpx.Client, prediction_id: str, timeout: float = 30) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:  # the model prints its pid once it runs user code
        logs = http.get(f"/v1/predictions/{prediction_id}").json()["logs"] or ""
        if re.search(r"worker pid (\d+)", logs):
            return worker_of(http, prediction_id, timeout)
        time.sleep(0.1)
    raise AssertionError("the model never printed its pid")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_worker_killed_mid_prediction(server: Server) -> None:
    with server.http() as http:
        r = http.post("/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 60}})
        prediction_id = r.json()["id"]
        wait_status(http, prediction_id, {"processing"})
        os.kill(worker_pid(http, prediction_id), signal.SIGKILL)
        failed = wait_status(http, prediction_id, {"failed", "succeeded", "canceled"})
        assert failed["status"] == "failed"
        assert "crash" in failed["error"].lower()
        # The next prediction gets a fresh instance and succeeds.
        r = http.post(
            "/v1/models/admin/sleeper/predictions",
            json={"input": {"seconds": 0.1}},
            headers={"Prefer": "wait=60"},
        )
        assert r.json()["status"] == "succeeded", r.json()


def test_platform_killed_with_queued_predictions(server_factory: Callable[..., Server]) -> None:
    srv = server_factory().start()
    srv.push("sleeper", "admin/sleeper")
    with srv.http() as http:
        running = http.post(
            "/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 30}}
        ).json()["id"]
        queued = [
            http.post(
                "/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 0.2}}
            ).json()["id"]
            for _ in range(3)
        ]
        wait_status(http, running, {"processing"})
        old_worker = worker_pid(http, running)
    assert srv.process is not None
    platform_pid = srv.process.pid
    # The sandboxes' processes name no host path (their cwd is /src): find them by ancestry.
    old_model_processes = set(descendants(platform_pid)) | (
        set(processes_with(str(srv.data_dir))) - {platform_pid}
    )
    assert old_worker in old_model_processes
    srv.kill()
    srv.start()
    with srv.http() as http:
        failed = wait_status(http, running, {"failed", "succeeded", "canceled"})
        assert failed["status"] == "failed"
        assert "platform stopped" in failed["error"]
        for prediction_id in queued:
            assert (
                wait_status(http, prediction_id, {"succeeded", "failed", "canceled"})["status"]
                == "succeeded"
            )
    deadline = time.time() + 10
    while any(alive(pid) for pid in old_model_processes) and time.time() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in old_model_processes if alive(pid)]


def test_scale_to_zero_and_cold_start(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(MODELYARD_IDLE_TIMEOUT="2").start()
    srv.push("echo", "admin/echo")
    assert srv.process is not None
    with srv.http() as http:
        r = http.post(
            "/v1/models/admin/echo/predictions",
            json={"input": {"text": "a"}},
            headers={"Prefer": "wait=60"},
        )
        assert r.json()["status"] == "succeeded"
        instances = set(processes_with(str(srv.data_dir))) - {srv.process.pid}
        assert instances, "a model instance should be running right after a prediction"
        deadline = time.time() + 15
        while any(alive(p) for p in instances) and time.time() < deadline:
            time.sleep(0.2)
        assert not [p for p in instances if alive(p)], "the idle instance should have stopped"
        r = http.post(
            "/v1/models/admin/echo/predictions",
            json={"input": {"text": "b"}},
            headers={"Prefer": "wait=60"},
        )
        assert r.json()["status"] == "succeeded" and r.json()["output"] == "b"
        assert set(processes_with(str(srv.data_dir))) - {srv.process.pid} - instances
