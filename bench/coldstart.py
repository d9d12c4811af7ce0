"""`make bench`, cold start: a warm-cached version's first prediction, created → `processing`.

Starts `modelyard serve` with a short idle timeout and pushes the no-op model (its environment
is cached and its setup does nothing). Then, `-n` times: wait until no instance runs, create a
prediction and read back its `created_at` → `started_at` (the cold start, by the server's
clocks), and the boot record of the instance that ran it. The cold start splits into

* coglet's own boot: the coglet process spawned → its health check answers READY, measured
  on a bare coglet process started the same way, on the same version, in between the runs;
* the platform's share: everything else (the scheduler noticing the work, starting the process,
  waiting for the model's setup logs, leasing the prediction and marking it processing).

    python -m bench.coldstart [-n 10] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from bench.__main__ import Platform

from modelyard.runtime import _processes
from modelyard.runtime.instance import InstanceSpec, _environment

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET_S = 0.5  # issue 11: created -> processing, p50


def parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def wait_until(check, timeout: float = 60.0, what: str = "") -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def cold_prediction(http: httpx.Client, version: str) -> dict[str, float]:
    """One cold start, in seconds by the server's clocks, split by the instance's boot record."""
    wait_until(lambda: not http.get("/v1/instances").json()["results"], what="scale to zero")
    # Prefer: wait answers when the prediction is done: nothing polls the server meanwhile.
    body = http.post(
        "/v1/predictions", json={"version": version, "input": {}}, headers={"Prefer": "wait=60"}
    ).json()
    if body["status"] != "succeeded":
        raise RuntimeError(f"the prediction did not succeed: {body}")
    instance = http.get(f"/v1/instances/{body['instance_id']}").json()
    return {
        "total": parse(body["started_at"]) - parse(body["created_at"]),
        "boot": parse(instance["ready_at"]) - parse(instance["started_at"]),
        "before_boot": parse(instance["started_at"]) - parse(body["created_at"]),
        "after_ready": parse(body["started_at"]) - parse(instance["ready_at"]),
    }


async def coglet_boot(spec: InstanceSpec, tmp: Path) -> float:
    """Seconds from spawning a bare coglet process to its worker's "Setup complete" line.

    Timed by coglet's own log timestamps, so nothing polls the booting process; coglet
    turns READY as it writes that line.
    """
    port = _processes.free_port()
    env = _environment(spec, tmp, venv=spec.venv_dir, sandboxed=False)
    env["PORT"] = str(port)  # spec.extra_env (Platform.spec) keeps bytecode out of the env
    argv = [spec.venv_dir / "bin" / "python", "-c", _processes.BOOTSTRAP, "--host", "127.0.0.1"]
    began = time.time()
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=spec.source_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        while line := await process.stdout.readline():
            if b"Setup complete" in line:
                return parse(json.loads(line)["timestamp"]) - began
        raise RuntimeError("coglet exited before its setup completed")
    finally:
        _processes.kill_group(process.pid)
        await process.wait()


def describe(name: str, samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    result = {"p50_ms": statistics.median(ms), "min_ms": ms[0], "max_ms": ms[-1], "n": len(ms)}
    print(
        f"  {name:<38} p50 {result['p50_ms']:7.1f} ms   min {result['min_ms']:7.1f}"
        f"   max {result['max_ms']:7.1f}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=10, help="cold starts to measure")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    envs = REPO / ".cache" / "test-envs"
    envs.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    }
    with tempfile.TemporaryDirectory(prefix="modelyard-coldstart-") as tmp:
        # A short idle timeout: the instance stops right after each run.
        platform = Platform(Path(tmp) / "data", envs, {"MODELYARD_IDLE_TIMEOUT": "0.2"})
        try:
            version = platform.push(HERE / "models" / "noop", "admin/noop")
            spec = platform.spec(version)
            http = httpx.Client(base_url=platform.url, headers=platform.headers, timeout=60)
            cold_prediction(http, version)  # warm the page cache and the version's caches
            runs, bare = [], []
            for _ in range(args.n):
                # Each measured alone: no instance of the platform runs meanwhile.
                wait_until(lambda: not http.get("/v1/instances").json()["results"], what="idle")
                bare.append(asyncio.run(coglet_boot(spec, Path(tmp))))
                runs.append(cold_prediction(http, version))
        finally:
            platform.stop()
    total = [r["total"] for r in runs]
    print("Cold start of a cached version (no setup work), created → processing:")
    t = describe("total (server clocks)", total)
    c = describe("coglet's own boot (spawn → setup done)", bare)
    describe("  platform: created → boot starts", [r["before_boot"] for r in runs])
    describe("  instance boot as the platform sees it", [r["boot"] for r in runs])
    describe("  platform: ready → processing", [r["after_ready"] for r in runs])
    platform_ms = t["p50_ms"] - c["p50_ms"]
    verdict = "met" if t["p50_ms"] <= TARGET_S * 1000 else "NOT met"
    print(
        f"  platform share {platform_ms:.1f} ms, coglet share {c['p50_ms']:.1f} ms at p50; "
        f"target total <= {TARGET_S * 1000:.0f} ms: {verdict}"
    )
    results["coldstart"] = {"total": t, "coglet_boot": c, "platform_share_p50_ms": platform_ms}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
