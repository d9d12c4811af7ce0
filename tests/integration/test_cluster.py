"""Cluster mode under faults (make test-cluster): 2 `modelyard api` + 2 `modelyard worker`
processes on this machine's PostgreSQL, their own redis-server and moto's S3, with workers, API
replicas, Redis and the leader killed while predictions run."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.cluster import POSTGRES, Cluster
from tests.integration.harness import Server, descendants
from tests.integration.receiver import receiver

pytestmark = pytest.mark.cluster

TERMINAL = ("succeeded", "failed", "canceled")


@pytest.fixture
def cluster_factory(tmp_path: Path, shared_envs_dir: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(worker_settings: list[dict[str, str]] | None = None, **settings: str) -> Cluster:
        cluster = Cluster(
            tmp_path / f"cluster{len(made)}",
            shared_envs_dir,
            {"MODELYARD_ALLOW_PRIVATE_NETWORKS": "1", **settings},
            worker_settings=worker_settings or [],
        )
        made.append(cluster)
        return cluster.start()

    yield make
    for cluster in made:
        cluster.stop()


def create(http: httpx.Client, model: str, **body: Any) -> str:
    r = http.post(f"/v1/models/{model}/predictions", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def wait_terminal(http: httpx.Client, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(ids) and time.monotonic() < deadline:
        for pid in ids:
            if pid not in done:
                body = http.get(f"/v1/predictions/{pid}").json()
                if body["status"] in TERMINAL:
                    done[pid] = body
        time.sleep(0.2)
    missing = [pid for pid in ids if pid not in done]
    assert not missing, f"{len(missing)} predictions never ended, e.g. {missing[:3]}"
    return done


def worker_running(cluster: Cluster, http: httpx.Client, prediction_id: str) -> Server:
    """The worker process whose instance is running `prediction_id`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = http.get(f"/v1/predictions/{prediction_id}").json()
        if body["status"] == "processing" and body.get("instance_id"):
            instance = http.get(f"/v1/instances/{body['instance_id']}").json()
            return cluster.workers[int(instance["worker"].rsplit("-", 1)[1])]
        time.sleep(0.1)
    raise AssertionError(f"{prediction_id} never ran")


def rows(cluster: Cluster, query: str) -> list[Any]:
    async def run() -> list[Any]:
        conn = await asyncpg.connect(f"{POSTGRES}/{cluster.database}")
        try:
            return list(await conn.fetch(query))
        finally:
            await conn.close()

    return asyncio.run(run())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_lost_workers_prediction_fails_and_the_rest_complete_on_the_other(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(MODELYARD_MAX_INSTANCES="2", MODELYARD_WORKER_LOST_AFTER="6")
    cluster.push("sleeper", "admin/sleeper")
    with receiver() as rec, cluster.http() as http, cluster.http() as other:
        hook = {"webhook": rec.url, "webhook_events_filter": ["completed"]}
        long = create(http, "admin/sleeper", input={"seconds": 300}, **hook)
        ids = [long] + [
            create((http, other)[n % 2], "admin/sleeper", input={"seconds": 0.05}, **hook)
            for n in range(199)
        ]
        victim = worker_running(cluster, http, long)
        assert victim.process is not None
        models = descendants(victim.process.pid)
        assert models, "the worker runs its model instances as its own processes"
        killed = time.monotonic()
        cluster.kill(victim)

        ended = wait_terminal(http, [long], timeout=60)[long]
        assert time.monotonic() - killed <= 30
        assert ended["status"] == "failed"
        assert "worker" in ended["error"] and "lost" in ended["error"], ended["error"]

        results = wait_terminal(other, ids, timeout=600)
        failed = {pid: r for pid, r in results.items() if r["status"] != "succeeded"}
        assert long in failed
        for pid, result in failed.items():  # only what ran on the lost worker may fail
            assert result["status"] == "failed" and "lost" in result["error"], (pid, result)
        assert len(failed) <= 2, failed  # one instance slot per worker ran at the kill
        survivor = next(w for w in cluster.workers if w is not victim)
        states = {w["name"]: w["state"] for w in http.get("/v1/workers").json()["results"]}
        assert states == {_name(cluster, victim): "lost", _name(cluster, survivor): "active"}

        # Every one of the 200 ended once: one row each, one `completed` webhook each.
        rec.wait_for(200, timeout=120)
        time.sleep(3)  # a second delivery would come now
        counts = collections.Counter(json.loads(d.body)["id"] for d in rec.deliveries)
        assert set(counts) == set(ids) and set(counts.values()) == {1}, counts.most_common(3)
        listed = rows(
            cluster,
            "SELECT count(*) AS n, count(DISTINCT id) AS d FROM predictions "
            "WHERE model = 'admin/sleeper'",
        )
        assert (listed[0]["n"], listed[0]["d"]) == (200, 200)

    # The dead worker's model processes do not outlive it on the machine.
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in models) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in models if alive(pid)]


def _name(cluster: Cluster, worker: Server) -> str:
    return f"worker-{cluster.workers.index(worker)}"


def test_an_api_replica_killed_during_a_burst_loses_nothing_it_accepted(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(MODELYARD_MAX_INSTANCES="2", MODELYARD_RECONCILE_AFTER="3")
    cluster.push("echo", "admin/echo")
    accepted: list[str] = []
    stop = threading.Event()

    def burst() -> None:
        while not stop.is_set():
            try:
                with cluster.http() as http:  # a new connection: the next replica
                    r = http.post(
                        "/v1/models/admin/echo/predictions", json={"input": {"text": "x"}}
                    )
            except httpx.HTTPError:
                continue  # the killed replica dropped it before answering: never accepted
            if r.status_code == 201:
                accepted.append(r.json()["id"])

    threads = [threading.Thread(target=burst) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    cluster.kill(cluster.apis[0])
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join()
    assert len(accepted) > 20
    with cluster.http() as http:
        results = wait_terminal(http, accepted, timeout=300)
    assert {r["status"] for r in results.values()} == {"succeeded"}


def test_predictions_accepted_before_and_after_redis_restarts_complete(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(MODELYARD_RECONCILE_AFTER="3")
    cluster.push("sleeper", "admin/sleeper")
    with cluster.http() as http:
        before = [create(http, "admin/sleeper", input={"seconds": 0.2}) for _ in range(20)]
        time.sleep(1)
        assert cluster.redis is not None
        cluster.redis.stop()  # everything Redis held is gone (no persistence)
        time.sleep(2)
        cluster.redis.start()
        after = [create(http, "admin/sleeper", input={"seconds": 0.2}) for _ in range(20)]
        results = wait_terminal(http, before + after, timeout=300)
    assert {r["status"] for r in results.values()} == {"succeeded"}, [
        (pid, r["status"], r["error"]) for pid, r in results.items() if r["status"] != "succeeded"
    ]


def test_deployment_bounds_hold_cluster_wide_and_the_leader_fails_over(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(MODELYARD_WORKER_LOST_AFTER="5")
    cluster.push("sleeper", "admin/sleeper")
    with cluster.http() as http:
        r = http.post(
            "/v1/deployments",
            json={
                "name": "sleepy",
                "model": "admin/sleeper",
                "version": http.get("/v1/models/admin/sleeper").json()["latest_version"]["id"],
                "hardware": "cpu",
                "min_instances": 1,
                "max_instances": 2,
            },
        )
        assert r.status_code in (200, 201), r.text

        def running() -> int:
            listed = http.get("/v1/instances").json()["results"]
            return len([i for i in listed if i["deployment"] == "admin/sleepy"])

        deadline = time.monotonic() + 120
        while running() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert running() == 1  # min_instances 1: one warm instance, not one per worker

        ids = [_create_on_deployment(http, "admin/sleepy", {"seconds": 0.3}) for _ in range(40)]
        peak = 0
        while not all(
            http.get(f"/v1/predictions/{pid}").json()["status"] in TERMINAL for pid in ids[-5:]
        ):
            peak = max(peak, running())
            time.sleep(0.1)
        wait_terminal(http, ids, timeout=300)
        assert peak == 2  # the burst scaled out, to max_instances across both workers

        leader = _leader(cluster)
        assert leader.process is not None
        leader.kill()
        successor = _leader(cluster, timeout=30)
        assert successor is not leader
        # The new leader does the leader's work: a dead worker is declared lost.
        if leader in cluster.workers:
            lost = leader
        else:
            lost = cluster.workers[-1]
            lost.kill()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {w["name"]: w["state"] for w in http.get("/v1/workers").json()["results"]}
            if states.get(_name(cluster, lost)) == "lost":
                break
            time.sleep(0.5)
        assert states.get(_name(cluster, lost)) == "lost", states
        more = [_create_on_deployment(http, "admin/sleepy", {"seconds": 0.1}) for _ in range(5)]
        results = wait_terminal(http, more, timeout=180)
        assert {r["status"] for r in results.values()} == {"succeeded"}
    assert len(rows(cluster, "SELECT 1 FROM instance_slots")) <= 2


def _create_on_deployment(http: httpx.Client, deployment: str, inputs: dict[str, Any]) -> str:
    r = http.post(f"/v1/deployments/{deployment}/predictions", json={"input": inputs})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _leader(cluster: Cluster, timeout: float = 30) -> Server:
    """The live process that last logged that it leads the cluster."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: list[tuple[str, Server]] = []
        for process in cluster.apis + cluster.workers:
            if process.process is None or not process.log_path.exists():
                continue
            lines = [
                line
                for line in process.log_path.read_text().splitlines()
                if "this process leads the cluster" in line
            ]
            if lines:
                found.append((lines[-1][:23], process))  # its asctime
        if found:
            return max(found, key=lambda f: f[0])[1]
        time.sleep(0.2)
    raise AssertionError("no live process leads the cluster")


def test_a_worker_drains_on_sigterm_and_exits_0(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(MODELYARD_SHUTDOWN_GRACE="30")
    cluster.push("sleeper", "admin/sleeper")
    with cluster.http() as http:
        pid = create(http, "admin/sleeper", input={"seconds": 3})
        worker = worker_running(cluster, http, pid)
        assert worker.process is not None
        listed = cluster.cli("instances")  # every worker's instances, with the worker's name
        assert listed.returncode == 0 and _name(cluster, worker) in listed.stdout, listed.stdout
        workers = cluster.cli("workers")
        assert workers.returncode == 0, workers.stderr
        assert "worker-0" in workers.stdout and "worker-1" in workers.stdout, workers.stdout
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(60) == 0
        worker.process = None
        assert wait_terminal(http, [pid], timeout=30)[pid]["status"] == "succeeded"
        states = {w["name"]: w["state"] for w in http.get("/v1/workers").json()["results"]}
        assert states[_name(cluster, worker)] == "stopped"


def test_a_paused_worker_declared_lost_stops_when_it_wakes(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(MODELYARD_WORKER_LOST_AFTER="4")
    cluster.push("sleeper", "admin/sleeper")
    paused = cluster.workers[0]
    assert paused.process is not None
    paused.process.send_signal(signal.SIGSTOP)  # silent, but not dead
    with cluster.http() as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {w["name"]: w["state"] for w in http.get("/v1/workers").json()["results"]}
            if states["worker-0"] == "lost":
                break
            time.sleep(0.5)
        assert states["worker-0"] == "lost", states
        paused.process.send_signal(signal.SIGCONT)
        # It learns at its next heartbeat that it was given up on, and stops.
        paused.process.wait(60)
        paused.process = None
        pid = create(http, "admin/sleeper", input={"seconds": 0.1})
        assert wait_terminal(http, [pid], timeout=120)[pid]["status"] == "succeeded"
        states = {w["name"]: w["state"] for w in http.get("/v1/workers").json()["results"]}
        assert states == {"worker-0": "lost", "worker-1": "active"}


def test_gpu_work_runs_on_the_worker_that_has_the_gpu(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory(worker_settings=[{}, {"MODELYARD_HARDWARE": "gpu-t4=1"}])
    version = cluster.push("gpu-reporter", "admin/gpu-reporter")
    with cluster.http() as http:
        deadline = time.monotonic() + 30  # the API replicas offer what the workers have
        while time.monotonic() < deadline:
            skus = {h["sku"] for h in http.get("/v1/hardware").json()}
            if "gpu-t4" in skus:
                break
            time.sleep(0.5)
        assert skus == {"cpu", "gpu-t4"}
        r = http.post(
            "/v1/deployments",
            json={
                "name": "gpu",
                "model": "admin/gpu-reporter",
                "version": version,
                "hardware": "gpu-t4",
                "min_instances": 0,
                "max_instances": 1,
            },
        )
        assert r.status_code in (200, 201), r.text
        ids = [_create_on_deployment(http, "admin/gpu", {"seconds": 0.1}) for _ in range(4)]
        results = wait_terminal(http, ids, timeout=180)
        assert {r["output"] for r in results.values()} == {"0"}, results  # CUDA_VISIBLE_DEVICES
        listed = http.get("/v1/instances?all=1").json()["results"]
        assert {i["worker"] for i in listed if i["deployment"] == "admin/gpu"} == {"worker-1"}
