"""Graceful shutdown of `modelyard serve`: SIGTERM drains, a second one kills, nothing survives."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import Server, processes_with
from tests.integration.test_faults import alive, wait_status
from tests.integration.test_worker_deaths import descendants

TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture
def sleeper(server_factory: Callable[..., Server]) -> Callable[..., Server]:
    def make(grace: float) -> Server:
        srv = server_factory(MODELYARD_SHUTDOWN_GRACE=str(grace)).start()
        srv.push("sleeper", "admin/sleeper")
        return srv

    return make


def create(http: httpx.Client, seconds: float) -> str:
    r = http.post("/v1/models/admin/sleeper/predictions", json={"input": {"seconds": seconds}})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def model_processes(srv: Server) -> set[tuple[int, str]]:
    """The platform's descendants (pid and start time, so a reused pid never counts)."""
    assert srv.process is not None
    found = set()
    for pid in descendants(srv.process.pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        found.add((pid, stat[stat.rindex(")") + 2 :].split()[19]))
    return found


def survivors(srv: Server, before: set[tuple[int, str]]) -> list[int]:
    """Processes of `before` still alive, and any process that names the data dir."""
    left = []
    for pid, started in before:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :].split()[19] == started and alive(pid):
            left.append(pid)
    return left + [p for p in processes_with(str(srv.data_dir)) if alive(p)]


def terminate(srv: Server, *, timeout: float) -> tuple[int, float]:
    """SIGTERM the platform and wait for it; returns its exit code and how long it took."""
    assert srv.process is not None
    began = time.monotonic()
    srv.process.send_signal(signal.SIGTERM)
    try:
        code = srv.process.wait(timeout)
    except subprocess.TimeoutExpired:
        srv.process.kill()
        srv.process.wait()
        raise AssertionError(f"the platform did not exit within {timeout} s") from None
    srv.process = None
    return code, time.monotonic() - began


def test_sigterm_finishes_running_work_keeps_queued_and_exits_0(
    sleeper: Callable[..., Server],
) -> None:
    srv = sleeper(30)
    with srv.http() as http:
        running = create(http, 3)
        queued = [create(http, 0.1) for _ in range(3)]
        wait_status(http, running, {"processing"})
        procs = model_processes(srv)
        assert procs, "a model instance should be running"
        assert srv.process is not None
        began = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # It takes no new work: a create is refused with 503 and Retry-After (or the listener
        # is already closed).
        try:
            r = http.post("/v1/models/admin/sleeper/predictions", json={"input": {"seconds": 0}})
        except httpx.TransportError:
            pass
        else:
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] and "shutting down" in r.json()["detail"]
            assert r.headers["content-type"].startswith("application/problem+json")
        code = srv.process.wait(30)
        took = time.monotonic() - began
        srv.process = None
    assert code == 0
    assert 2 < took < 20, took  # it waited for the 3 s prediction, not for the grace
    assert not survivors(srv, procs)

    srv.start()
    with srv.http() as http:
        finished = wait_status(http, running, TERMINAL)
        assert finished["status"] == "succeeded", finished
        for prediction_id in queued:  # kept, and run by the next start
            assert wait_status(http, prediction_id, TERMINAL)["status"] == "succeeded"
    code, _ = terminate(srv, timeout=30)
    assert code == 0


def test_end_of_grace_kills_the_model_processes(sleeper: Callable[..., Server]) -> None:
    srv = sleeper(2)
    with srv.http() as http:
        running = create(http, 120)
        wait_status(http, running, {"processing"})
        procs = model_processes(srv)
    code, took = terminate(srv, timeout=30)
    assert code == 0
    assert took < 15, took
    assert not survivors(srv, procs)

    srv.start()
    with srv.http() as http:
        failed = wait_status(http, running, TERMINAL)
    assert failed["status"] == "failed"
    assert "stopped" in failed["error"], failed["error"]


def test_second_sigterm_kills_at_once(sleeper: Callable[..., Server]) -> None:
    srv = sleeper(300)
    with srv.http() as http:
        running = create(http, 120)
        wait_status(http, running, {"processing"})
        procs = model_processes(srv)
    assert srv.process is not None
    began = time.monotonic()
    srv.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert srv.process.poll() is None, "the first SIGTERM waits for the running prediction"
    code, _ = terminate(srv, timeout=20)
    assert code == 0
    assert time.monotonic() - began < 20
    assert not survivors(srv, procs)

    srv.start()
    with srv.http() as http:
        assert wait_status(http, running, TERMINAL)["status"] == "failed"
