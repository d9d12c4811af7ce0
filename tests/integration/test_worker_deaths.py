"""Issue 9, finding 11: a model worker SIGKILLed while idle is noticed before work is sent to it;
only a prediction that was running when its worker died fails."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import Server, descendants, parent_of
from tests.integration.test_faults import wait_status

ROUNDS = 6


@pytest.fixture
def sleeper(server_factory: Callable[..., Server]) -> Server:
    srv = server_factory().start()
    srv.push("sleeper", "admin/sleeper")
    return srv


def run_sync(http: httpx.Client, seconds: float) -> dict:
    r = http.post(
        "/v1/models/admin/sleeper/predictions",
        json={"input": {"seconds": seconds}},
        headers={"Prefer": "wait=60"},
    )
    assert r.status_code in (200, 201), r.text
    body = r.json()
    if body["status"] in ("starting", "processing"):
        body = wait_status(http, body["id"], {"succeeded", "failed", "canceled"})
    return body


def the_worker(srv: Server, timeout: float = 10) -> int:
    """The pid of the one model worker (coglet's `_run_worker` child) under the platform."""
    assert srv.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = []
        for pid in descendants(srv.process.pid):
            try:
                if b"_run_worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    workers.append(pid)
            except OSError:
                continue
        if len(workers) == 1:
            return workers[0]
        time.sleep(0.05)
    raise AssertionError(f"expected one model worker, found {workers}")


@pytest.mark.parametrize("victim", ["worker", "coglet"])
def test_killed_idle_instance_is_replaced_before_work_reaches_it(
    sleeper: Server, victim: str
) -> None:
    with sleeper.http() as http:
        for round_ in range(ROUNDS):
            warm = run_sync(http, 0)
            assert warm["status"] == "succeeded", warm
            worker = the_worker(sleeper)
            pid = worker if victim == "worker" else parent_of(worker)
            os.kill(pid, signal.SIGKILL)
            # Right after the kill, with no pause: it must run on a fresh instance.
            after = run_sync(http, 0)
            assert after["status"] == "succeeded", (round_, after["error"], after["logs"])
            assert after["output"] == "slept 0"
            assert the_worker(sleeper) != worker


def test_only_the_prediction_running_when_its_worker_died_fails(sleeper: Server) -> None:
    with sleeper.http() as http:
        for round_ in range(ROUNDS // 2):
            running = http.post(
                "/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 30}}
            ).json()["id"]
            wait_status(http, running, {"processing"})
            worker = the_worker(sleeper)
            queued = http.post(
                "/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 0.1}}
            ).json()["id"]
            os.kill(worker, signal.SIGKILL)
            crashed = wait_status(http, running, {"succeeded", "failed", "canceled"})
            assert crashed["status"] == "failed", (round_, crashed)
            assert crashed["error"].startswith("The model instance crashed"), crashed["error"]
            waited = wait_status(http, queued, {"succeeded", "failed", "canceled"})
            assert waited["status"] == "succeeded", (round_, waited)
            assert run_sync(http, 0)["status"] == "succeeded"


def test_random_kills_fail_only_what_was_running(sleeper: Server) -> None:
    """Kills at random moments while predictions flow: every failure is a running one's."""
    with sleeper.http() as http:
        ids: list[str] = []
        killed_while_running: set[str] = set()
        deadline = time.monotonic() + 20
        n = 0
        while time.monotonic() < deadline:
            n += 1
            body = http.post(
                "/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 0.3}}
            ).json()
            ids.append(body["id"])
            if n % 4 == 0:  # kill the worker of the prediction that is running now, if any
                current = wait_status(http, body["id"], {"processing", "succeeded", "failed"})
                if current["status"] == "processing":
                    os.kill(the_worker(sleeper), signal.SIGKILL)
                    killed_while_running.add(body["id"])
            time.sleep(0.05)
        finals = {i: wait_status(http, i, {"succeeded", "failed", "canceled"}) for i in ids}
    failed = {i for i, body in finals.items() if body["status"] != "succeeded"}
    assert killed_while_running, "no kill landed while a prediction ran"
    assert failed <= killed_while_running, {i: finals[i]["error"] for i in failed}
