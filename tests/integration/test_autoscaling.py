"""Autoscaling with real coglet instances: warm minimums, bursts, scale to zero, rollouts, GPUs.

Each test runs a dedicated server with a short idle timeout (MODELYARD_IDLE_TIMEOUT).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.integration.harness import MODELS, Server


def deploy(http: httpx.Client, name: str, model: str, version: str, **config: Any) -> None:
    body = {
        "name": name,
        "model": model,
        "version": version,
        "hardware": config.pop("hardware", "cpu"),
        "min_instances": config.pop("min_instances", 0),
        "max_instances": config.pop("max_instances", 1),
    }
    r = http.post("/v1/deployments", json=body)
    assert r.status_code == 200, r.text


def instances(http: httpx.Client, deployment: str | None = None, every: bool = False) -> list[dict]:
    results = http.get("/v1/instances?all=1" if every else "/v1/instances").json()["results"]
    return [i for i in results if deployment is None or i["deployment"] == deployment]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finished(http: httpx.Client, prediction_id: str, timeout: float = 120) -> dict:
    def done() -> dict | None:
        body = http.get(f"/v1/predictions/{prediction_id}").json()
        return body if body["status"] in ("succeeded", "failed", "canceled") else None

    return wait_for(done, f"prediction {prediction_id}", timeout)


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


class Sampler:
    """Polls /v1/instances in the background and remembers the most seen at once."""

    def __init__(self, server: Server, deployment: str | None = None) -> None:
        self.server, self.deployment = server, deployment
        self.peak = 0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with self.server.http() as http:
            while not self._stop.is_set():
                live = [i for i in instances(http, self.deployment) if i["state"] != "stopping"]
                self.peak = max(self.peak, len(live))
                self.seen.update(i["id"] for i in live)
                time.sleep(0.05)


def test_min_instances_stay_warm_and_come_back(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(MODELYARD_IDLE_TIMEOUT="1").start()
    version = srv.push("sleeper", "admin/sleeper")
    with srv.http() as http:
        deploy(http, "warm", "admin/sleeper", version, min_instances=1, max_instances=1)
        # Warm before any prediction.
        first = wait_for(
            lambda: [i for i in instances(http, "admin/warm") if i["state"] == "idle"],
            "a warm instance",
        )[0]
        assert first["predictions_served"] == 0
        time.sleep(2.5)  # well past the idle timeout: the minimum stays
        assert [i["id"] for i in instances(http, "admin/warm")] == [first["id"]]
        r = http.post(
            "/v1/deployments/admin/warm/predictions",
            json={"input": {"seconds": 0.1}},
            headers={"Prefer": "wait"},
        )
        assert r.json()["status"] == "succeeded"
        assert r.json()["instance_id"] == first["id"]
        time.sleep(2.5)  # idle again, past the timeout: still warm
        after = instances(http, "admin/warm")
        assert [(i["id"], i["state"]) for i in after] == [(first["id"], "idle")]
        assert after[0]["predictions_served"] == 1
        # Killing it brings a new one.
        os.killpg(first["pid"], signal.SIGKILL)
        replacement = wait_for(
            lambda: [
                i
                for i in instances(http, "admin/warm")
                if i["id"] != first["id"] and i["state"] == "idle"
            ],
            "a replacement instance",
        )[0]
        assert replacement["pid"] != first["pid"]
        record = http.get(f"/v1/instances/{first['id']}").json()
        assert record["state"] == "failed" and record["stopped_at"]


def test_burst_scales_to_two_and_back_to_zero(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(MODELYARD_IDLE_TIMEOUT="2").start()
    version = srv.push("sleeper", "admin/sleeper")

    def burst(http: httpx.Client, deployment: str) -> tuple[float, list[dict]]:
        began = time.monotonic()
        ids = [
            http.post(
                f"/v1/deployments/{deployment}/predictions", json={"input": {"seconds": 0.5}}
            ).json()["id"]
            for _ in range(20)
        ]
        done = [finished(http, pid) for pid in ids]
        return time.monotonic() - began, done

    with srv.http() as http:
        deploy(http, "one", "admin/sleeper", version, max_instances=1)
        deploy(http, "two", "admin/sleeper", version, max_instances=2)
        with Sampler(srv, "admin/one") as one_sampler:
            one_time, one_done = burst(http, "admin/one")
        with Sampler(srv, "admin/two") as two_sampler:
            two_time, two_done = burst(http, "admin/two")
        assert all(p["status"] == "succeeded" for p in one_done + two_done)
        assert len({p["instance_id"] for p in one_done}) == 1
        assert one_sampler.peak == 1
        assert len({p["instance_id"] for p in two_done}) == 2
        assert two_sampler.peak == 2
        assert two_time < one_time, (two_time, one_time)
        # After the idle timeout, nothing runs for either deployment.
        wait_for(lambda: not instances(http), "scale to zero", timeout=30)
        stopped = [i for i in instances(http, every=True) if i["deployment"] == "admin/two"]
        assert {i["stop_reason"] for i in stopped} == {"idle"}
        assert sum(i["predictions_served"] for i in stopped) == 20


def test_new_version_drains_old_instances(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    srv = server_factory(MODELYARD_IDLE_TIMEOUT="30").start()
    v1 = srv.push("sleeper", "admin/sleeper")
    second = tmp_path / "sleeper-v2"
    shutil.copytree(MODELS / "sleeper", second)
    with open(second / "predict.py", "a") as fh:
        fh.write("\n# the second version\n")
    v2 = srv.push(second, "admin/sleeper")
    assert v1 != v2
    with srv.http() as http:
        deploy(http, "roll", "admin/sleeper", v1, max_instances=1)
        old = http.post(
            "/v1/deployments/admin/roll/predictions", json={"input": {"seconds": 3}}
        ).json()
        wait_for(
            lambda: http.get(f"/v1/predictions/{old['id']}").json()["status"] == "processing",
            "the first prediction to run",
        )
        old_instance = http.get(f"/v1/predictions/{old['id']}").json()["instance_id"]
        patched = http.patch("/v1/deployments/admin/roll", json={"version": v2})
        assert patched.json()["current_release"]["version"] == v2
        draining = {i["id"]: i["state"] for i in instances(http, "admin/roll")}
        assert draining[old_instance] == "stopping"
        new = http.post(
            "/v1/deployments/admin/roll/predictions", json={"input": {"seconds": 0.1}}
        ).json()
        assert new["version"] == v2
        old_done, new_done = finished(http, old["id"]), finished(http, new["id"])
        assert old_done["status"] == "succeeded", old_done["error"]
        assert old_done["version"] == v1 and old_done["instance_id"] == old_instance
        assert new_done["status"] == "succeeded" and new_done["instance_id"] != old_instance
        record = wait_for(
            lambda: (
                http.get(f"/v1/instances/{old_instance}").json()["stopped_at"]
                and http.get(f"/v1/instances/{old_instance}").json()
            ),
            "the old instance to stop",
        )
        assert record["stop_reason"] == "drained" and record["version"] == v1
        live = instances(http, "admin/roll")
        assert [i["version"] for i in live] == [v2]


def test_gpu_placement_never_overcommits(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(MODELYARD_HARDWARE="gpu-t4=2", MODELYARD_IDLE_TIMEOUT="300").start()
    version = srv.push("gpu-reporter", "admin/gpu-reporter")
    with srv.http() as http:
        skus = {h["sku"] for h in http.get("/v1/hardware").json()}
        assert skus == {"cpu", "gpu-t4"}
        too_many = http.post(
            "/v1/deployments",
            json={
                "name": "greedy",
                "model": "admin/gpu-reporter",
                "version": version,
                "hardware": "gpu-t4",
                "min_instances": 3,
                "max_instances": 3,
            },
        )
        assert too_many.status_code == 422 and "GPUs" in too_many.json()["detail"]
        for name in ("g1", "g2", "g3"):
            deploy(http, name, "admin/gpu-reporter", version, hardware="gpu-t4")

        def run(name: str, seconds: float) -> str:
            return http.post(
                f"/v1/deployments/admin/{name}/predictions", json={"input": {"seconds": seconds}}
            ).json()["id"]

        with Sampler(srv) as sampler:
            # g1 and g2 take both GPUs and keep them busy for a while.
            busy = [run("g1", 4), run("g2", 4)]
            for pid in busy:
                wait_for(
                    lambda pid=pid: (
                        http.get(f"/v1/predictions/{pid}").json()["status"] == "processing"
                    ),
                    "the GPU predictions to start",
                )
            # g3's work waits: no GPU is free and no instance is idle.
            waiting = run("g3", 0)
            time.sleep(1.5)
            assert http.get(f"/v1/predictions/{waiting}").json()["status"] == "starting"
            assert len(instances(http)) == 2
            first, second, third = (finished(http, p) for p in (*busy, waiting))
        assert sampler.peak <= 2
        outputs = [p["output"] for p in (first, second, third)]
        assert all(p["status"] == "succeeded" for p in (first, second, third)), outputs
        assert sorted(outputs[:2]) == ["0", "1"]  # distinct CUDA_VISIBLE_DEVICES
        assert outputs[2] in ("0", "1")
        records = {i["id"]: i for i in instances(http, every=True)}
        evicted = [i for i in records.values() if i["stop_reason"] == "evicted"]
        assert len(evicted) == 1 and evicted[0]["deployment"] in ("admin/g1", "admin/g2")
        assert evicted[0]["gpu_indexes"] == [int(outputs[2])]
        third_instance = records[third["instance_id"]]
        assert third_instance["gpu_indexes"] == [int(outputs[2])]
        # The evicted instance was gone before the third one started: never three at once.
        assert parse(evicted[0]["stopped_at"]) <= parse(third_instance["started_at"])
        assert max_overlap(list(records.values())) <= 2


def max_overlap(records: list[dict]) -> int:
    events = []
    for r in records:
        events.append((parse(r["started_at"]), 1))
        if r["stopped_at"]:
            events.append((parse(r["stopped_at"]), -1))
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def create_user(srv: Server, username: str) -> str:
    """A second account and a token for it: `modelyard users create` if present, else the store."""
    made = srv.cli("users", "create", username)
    if made.returncode != 0:
        from modelyard.accounts import create_account
        from modelyard.store import Database

        async def insert() -> None:
            db = Database(f"sqlite:///{srv.data_dir / 'modelyard.db'}")
            try:
                async with db.begin() as conn:
                    await create_account(conn, username)
            finally:
                await db.close()

        asyncio.run(insert())
    token = srv.cli("tokens", "create", "--user", username)
    assert token.returncode == 0, token.stderr
    return token.stdout.strip()


def test_owner_fairness_on_a_shared_model(server_factory: Callable[..., Server]) -> None:
    srv = server_factory().start()
    srv.push("sleeper", "admin/sleeper", "--public")
    other = create_user(srv, "bob")
    with (
        srv.http() as alice,
        httpx.Client(
            base_url=srv.url, headers={"Authorization": f"Bearer {other}"}, timeout=60
        ) as bob,
    ):
        body = {"input": {"seconds": 0.2}}
        burst = [
            alice.post("/v1/models/admin/sleeper/predictions", json=body).json()["id"]
            for _ in range(50)
        ]
        queued_at = time.time()
        mine = bob.post("/v1/models/admin/sleeper/predictions", json=body).json()["id"]
        done = finished(bob, mine)
        assert done["status"] == "succeeded"
        for pid in burst:
            alice.post(f"/v1/predictions/{pid}/cancel")
        started = [alice.get(f"/v1/predictions/{pid}").json()["started_at"] for pid in burst]
        b_start = parse(done["started_at"]).timestamp()
        ahead = [s for s in started if s and queued_at <= parse(s).timestamp() < b_start]
        assert len(ahead) < 5, f"{len(ahead)} of owner A's predictions started before B's"
