"""`make bench`: the platform's overhead over calling coglet directly, measured in one run.

Starts `modelyard serve` on a temporary data directory, pushes the benchmark models, starts a
second coglet process on the very same built version (same venv, same source, same schema), and
measures both paths with keep-alive HTTP clients:

* no-op prediction latency: `POST /v1/predictions` with `Prefer: wait` vs a sync `POST /predictions`
  to coglet (p50, p99, and the difference);
* throughput with 8 concurrent clients (predictions/s);
* time to first token: create + `urls.stream` vs coglet's own SSE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from modelyard.runtime.instance import Instance, InstanceSpec

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    result = {"p50_ms": statistics.median(ms), "p99_ms": pct(ms, 0.99), "n": len(ms)}
    p50, p99 = result["p50_ms"], result["p99_ms"]
    print(f"  {name:<34} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   n={len(ms)}")
    return result


class Platform:
    def __init__(
        self, data_dir: Path, envs_dir: Path, settings: dict[str, str] | None = None
    ) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")},
            "MODELYARD_DATA_DIR": str(data_dir),
            "MODELYARD_ENVS_DIR": str(envs_dir),
            "MODELYARD_PORT": str(self.port),
            "MODELYARD_REGISTER_BUILTIN_MODELS": "0",
            "MODELYARD_LOG_LEVEL": "warning",
            # Rate limiting stays on (its cost is part of the overhead) but is never hit.
            "MODELYARD_RATE_LIMIT_CREATE": "100000000/min",
            "MODELYARD_RATE_LIMIT_OTHER": "100000000/min",
            "MODELYARD_URL": self.url,
            **(settings or {}),
        }
        token = subprocess.run(
            [BIN / "modelyard", "tokens", "create"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.env["MODELYARD_TOKEN"] = token
        self.headers = {"Authorization": f"Bearer {token}"}
        self.process = subprocess.Popen(
            [BIN / "modelyard", "serve"], env=self.env, stdout=subprocess.DEVNULL
        )
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the platform did not start")

    def push(self, directory: Path, model: str) -> str:
        out = subprocess.run(
            [BIN / "modelyard", "push", str(directory), model],
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise RuntimeError(out.stdout + out.stderr)
        return (
            [line for line in out.stdout.splitlines() if "Pushed" in line][-1]
            .rsplit(":", 1)[-1]
            .strip()
        )

    def spec(self, version_id: str) -> InstanceSpec:
        with sqlite3.connect(self.data_dir / "modelyard.db") as db:
            source, venv, ref = db.execute(
                "select source_dir, venv_dir, predict_ref from versions where id = ?", (version_id,)
            ).fetchone()
        return InstanceSpec(
            version_id=version_id,
            source_dir=self.data_dir / source,
            venv_dir=Path(venv),
            predict_ref=ref,
            # A bare baseline runs as the environment's owner: it must not write bytecode into
            # it (a sandboxed instance cannot), or every later boot measures faster than real.
            extra_env={"PYTHONDONTWRITEBYTECODE": "1"},
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def latency(call: Callable[[], None], n: int) -> list[float]:
    for _ in range(20):
        call()
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


def throughput(make_call: Callable[[], Callable[[], None]], clients: int, seconds: float) -> float:
    counts = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        call = make_call()
        while time.perf_counter() < stop:
            call()
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def coglet_call(base: str, *, stream: bool = False) -> Callable[[], None]:
    client = httpx.Client(base_url=base, timeout=30)

    def call() -> None:
        while True:
            if stream:
                with client.stream(
                    "POST",
                    "/predictions",
                    json={"input": {}},
                    headers={"Accept": "text/event-stream"},
                ) as r:
                    if r.status_code == 409:
                        continue
                    for line in r.iter_lines():
                        if line.startswith("event: output"):
                            return
                return
            r = client.post("/predictions", json={"input": {}})
            if r.status_code != 409:  # coglet's spurious "busy": a direct caller must retry
                assert r.json()["status"] == "succeeded", r.text
                return

    return call


def platform_call(p: Platform, version: str, *, stream: bool = False) -> Callable[[], None]:
    client = httpx.Client(base_url=p.url, headers=p.headers, timeout=60)
    anon = httpx.Client(timeout=60)

    def call() -> None:
        if stream:
            created = client.post("/v1/predictions", json={"version": version, "input": {}}).json()
            with anon.stream(
                "GET", created["urls"]["stream"], headers={"Accept": "text/event-stream"}
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("event: output"):
                        return
            return
        r = client.post(
            "/v1/predictions", json={"version": version, "input": {}}, headers={"Prefer": "wait"}
        )
        assert r.json()["status"] == "succeeded", r.text

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500, help="sequential requests per latency series")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="duration of each throughput run"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    envs = REPO / ".cache" / "test-envs"
    envs.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    }
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        platform = Platform(Path(tmp) / "data", envs)
        try:
            noop = platform.push(HERE / "models" / "noop", "admin/noop")
            first = platform.push(HERE / "models" / "firsttoken", "admin/firsttoken")
            # The direct coglets live on an event loop of their own, in a background thread.
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True).start()
            instances = [Instance(platform.spec(v), tmp_root=Path(tmp)) for v in (noop, first)]
            for inst in instances:
                asyncio.run_coroutine_threadsafe(inst.start(), loop).result(120)
            direct_noop = f"http://127.0.0.1:{instances[0].port}"
            direct_stream = f"http://127.0.0.1:{instances[1].port}"

            print("No-op prediction, sequential, keep-alive:")
            d = summary("coglet sync POST /predictions", latency(coglet_call(direct_noop), args.n))
            m = summary(
                "modelyard POST + Prefer: wait", latency(platform_call(platform, noop), args.n)
            )
            added = m["p50_ms"] - d["p50_ms"]
            print(f"  platform adds {added:.2f} ms at p50 (ratio {m['p50_ms'] / d['p50_ms']:.2f}x)")
            results["noop"] = {"coglet": d, "modelyard": m, "added_p50_ms": added}

            print("Throughput, 8 concurrent clients:")
            dt = throughput(lambda: coglet_call(direct_noop), 8, args.seconds)
            mt = throughput(lambda: platform_call(platform, noop), 8, args.seconds)
            print(f"  coglet direct {dt:8.1f} predictions/s (1 slot)")
            print(f"  modelyard     {mt:8.1f} predictions/s (ratio {mt / dt:.2f})")
            results["throughput"] = {"coglet": dt, "modelyard": mt}

            print("Time to first token:")
            ds = summary(
                "coglet SSE", latency(coglet_call(direct_stream, stream=True), max(50, args.n // 5))
            )
            ms = summary(
                "modelyard create + urls.stream",
                latency(platform_call(platform, first, stream=True), max(50, args.n // 5)),
            )
            print(f"  platform adds {ms['p50_ms'] - ds['p50_ms']:.2f} ms at p50")
            results["ttft"] = {
                "coglet": ds,
                "modelyard": ms,
                "added_p50_ms": ms["p50_ms"] - ds["p50_ms"],
            }
        finally:
            for inst in locals().get("instances", []):
                asyncio.run_coroutine_threadsafe(inst.stop(), loop).result(30)
            platform.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
