"""`python -m bench.cluster`: cluster mode against the embedded platform, in one run (issue 10).

* no-op throughput (8 clients, `Prefer: wait`) and p50 latency of `modelyard serve` against
  2 `modelyard api` + 1 `modelyard worker` on this machine's PostgreSQL, a redis-server of its
  own and moto's S3; clients go straight to the replicas (no test balancer in the way);
* scaling: the same cluster with 1 worker and with 2, a model that sleeps 50 ms per prediction,
  8 clients, each worker running at most 2 instances (MODELYARD_WORKER_CAPACITY=2).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
from bench.__main__ import latency, summary, throughput
from tests.integration.cluster import Cluster
from tests.integration.harness import Server

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLIENTS = 8
UNLIMITED = {  # the benchmark measures the platform, not its rate limits
    "MODELYARD_RATE_LIMIT_CREATE": "100000000/min",
    "MODELYARD_RATE_LIMIT_OTHER": "100000000/min",
}


def caller(base: str, token: str, version: str, inputs: dict[str, object]) -> Callable[[], None]:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def call() -> None:
        r = client.post(
            "/v1/predictions",
            json={"version": version, "input": inputs},
            headers={"Prefer": "wait"},
        )
        assert r.json()["status"] == "succeeded", r.text

    return call


def spread(
    bases: list[str], token: str, version: str, inputs: dict[str, object]
) -> Callable[[], Callable[[], None]]:
    """A factory of callers, each client on the next API replica."""
    turn = iter(range(1 << 30))

    def make() -> Callable[[], None]:
        return caller(bases[next(turn) % len(bases)], token, version, inputs)

    return make


def noop(bases: list[str], token: str, version: str, n: int, seconds: float) -> dict[str, float]:
    lat = summary("latency", latency(caller(bases[0], token, version, {}), n))
    rate = throughput(spread(bases, token, version, {}), CLIENTS, seconds)
    print(f"  throughput {rate:.1f} predictions/s ({CLIENTS} clients)")
    return {**lat, "throughput_per_s": round(rate, 1)}


def scaling_run(root: Path, envs: Path, workers: int, seconds: float) -> float:
    cluster = Cluster(
        root,
        envs,
        {"MODELYARD_WORKER_CAPACITY": "2", "MODELYARD_MAX_INSTANCES": "4", **UNLIMITED},
        worker_count=workers,
    ).start()
    try:
        version = cluster.push("sleeper", "admin/sleeper")
        bases = [api.url for api in cluster.apis]
        inputs = {"seconds": 0.05}
        warm = spread(bases, cluster.token, version, inputs)
        throughput(warm, CLIENTS, 5.0)  # every worker's instances booted
        rate = throughput(spread(bases, cluster.token, version, inputs), CLIENTS, seconds)
        print(f"  {workers} worker(s): {rate:.1f} predictions/s")
        return rate
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=300, help="sequential requests for the p50")
    parser.add_argument("--seconds", type=float, default=10.0, help="each throughput run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    envs = REPO / ".cache" / "test-envs"
    envs.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("embedded: modelyard serve")
        serve = Server(data_dir=root / "serve" / "data", envs_dir=envs, settings=UNLIMITED)
        serve.data_dir.parent.mkdir(parents=True)
        serve.start()
        try:
            version = serve.push(HERE / "models" / "noop", "admin/noop")
            embedded = noop([serve.url], serve.token, version, args.n, args.seconds)
        finally:
            serve.stop()
        print("cluster: 2 modelyard api + 1 modelyard worker")
        cluster = Cluster(root / "cluster", envs, UNLIMITED, worker_count=1).start()
        try:
            version = cluster.push(HERE / "models" / "noop", "admin/noop")
            bases = [api.url for api in cluster.apis]
            clustered = noop(bases, cluster.token, version, args.n, args.seconds)
        finally:
            cluster.stop()
        overhead = clustered["p50_ms"] - embedded["p50_ms"]
        print(f"  cluster p50 overhead: {overhead:.2f} ms")
        print(f"scaling: sleeper 50 ms, {CLIENTS} clients, 2 instances per worker")
        one = scaling_run(root / "one", envs, 1, args.seconds)
        two = scaling_run(root / "two", envs, 2, args.seconds)
        print(f"  2 workers / 1 worker: {two / one:.2f}x")
    results.update(
        embedded=embedded,
        cluster=clustered,
        cluster_p50_overhead_ms=round(overhead, 2),
        scaling={
            "one_worker": round(one, 1),
            "two_workers": round(two, 1),
            "ratio": round(two / one, 2),
        },
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
