"""`make bench`, the hot path: wrk against modelyard and against a bare coglet, in one run.

The model is `bench/models/hello` (`text -> "hello " + text`). Three targets, each driven by
`bench/wrk/predict.lua` (a logical request is timed from its first attempt to its 2xx, a 409
is re-sent at once, every 2xx body must hold `"output":"hello x"`):

* coglet direct: a sync `POST /predictions` to a bare coglet process of the very same built
  version (same venv, source and schema), started unsandboxed on a loopback port;
* modelyard, embedded SQLite: `modelyard serve --no-builtins` on a fresh data folder,
  `POST /v1/models/admin/hello/predictions` with `Prefer: wait`, rate limits raised;
* modelyard, embedded PostgreSQL: the same on a database of its own (`--postgres URL`,
  default the local server; skipped when none answers).

Each cycle runs every target at 1 and 8 connections (one per wrk thread); the cycles
alternate targets so each sees the same machine load. CPU per prediction is read from
/proc: utime + stime of the process tree (the server and every descendant) before and after
each wrk run, divided by the predictions answered. The platform's CPU per prediction is the
server tree's minus the bare coglet tree's at 1 connection.

`--compare TREE` (the source of another commit, e.g. a `git worktree`) adds that commit's
modelyard on SQLite and PostgreSQL to the same cycles: a before/after in one run.

    python -m bench.wrk [--seconds 5] [--cycles 3] [--compare TREE] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench.__main__ import Platform

from modelyard.runtime import _processes
from modelyard.runtime.instance import Instance

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCRIPT = HERE / "wrk" / "predict.lua"
EXPECT = '"output":"hello x"'
BODY = json.dumps({"input": {"text": "x"}})
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    url: str
    path: str
    pid: int  # the root of the process tree whose CPU is counted
    headers: dict[str, str] = field(default_factory=dict)
    runs: dict[int, list[dict[str, float]]] = field(default_factory=dict)


def tree(pid: int) -> list[int]:
    pending, found = [pid], []
    while pending:
        current = pending.pop()
        found.append(current)
        pending += _processes.children(current)
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and every live descendant (all threads), in seconds."""
    total = 0
    for member in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def wrk(target: Target, connections: int, seconds: float) -> dict[str, float]:
    env = {
        **os.environ,
        "BENCH_PATH": target.path,
        "BENCH_BODY": BODY,
        "BENCH_EXPECT": EXPECT,
        **target.headers,
    }
    before = cpu_seconds(target.pid)
    threads = f"{connections}"  # one connection per wrk thread
    argv = ["wrk", f"-t{threads}", f"-c{threads}", f"-d{max(1, round(seconds))}s"]
    out = subprocess.run(
        [*argv, "-s", str(SCRIPT), target.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    cpu = cpu_seconds(target.pid) - before
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise RuntimeError(f"wrk failed on {target.name}: {out.stdout}{out.stderr}")
    result: dict[str, float] = json.loads(lines[-1])
    if result["bad"] or result["socket_errors"]:
        raise RuntimeError(f"{target.name}: unexpected answers {result} {out.stderr[-2000:]}")
    result["throughput"] = result["ok"] / (result["duration_us"] / 1e6)
    result["cpu_ms"] = cpu * 1000 / max(1, result["ok"])
    return result


def postgres_database(server: str, name: str) -> str | None:
    """A fresh database `name` on `server`, or None if no server answers there."""
    import asyncpg  # the platform's own PostgreSQL driver

    async def create() -> None:
        conn = await asyncpg.connect(f"{server}/postgres", timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"  (no PostgreSQL at {server}: {exc}; its rows are skipped)")
        return None
    return f"{server}/{name}"


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def report(targets: list[Target], concurrencies: list[int]) -> dict[str, Any]:
    direct = targets[0]
    results: dict[str, Any] = {}
    for c in concurrencies:
        print(
            f"\n{c} connection{'s' if c > 1 else ''} (median of {len(direct.runs[c])} cycles,"
            " [min-max]):"
        )
        base = {k: statistics.median(r[k] for r in direct.runs[c]) for k in direct.runs[c][0]}
        for t in targets:
            rows = t.runs[c]
            p50, p99, thr, cpu = (
                spread([r[k] for r in rows]) for k in ("p50_us", "p99_us", "throughput", "cpu_ms")
            )
            conflicts = statistics.median(r["conflicts"] / max(1, r["ok"]) for r in rows)
            line = (
                f"  {t.name:<22} p50 {p50[0] / 1000:6.2f} ms [{p50[1] / 1000:.2f}-"
                f"{p50[2] / 1000:.2f}]  p99 {p99[0] / 1000:6.2f} ms [{p99[1] / 1000:.2f}-"
                f"{p99[2] / 1000:.2f}]  {thr[0]:7.0f}/s [{thr[1]:.0f}-{thr[2]:.0f}]"
                f"  CPU {cpu[0]:5.2f} ms/pred  409s/pred {conflicts:.2f}"
            )
            if t is not direct:
                line += (
                    f"\n  {'':<22} p50 {(p50[0] - base['p50_us']) / 1000:+.2f} ms,"
                    f" p99 {(p99[0] - base['p99_us']) / 1000:+.2f} ms,"
                    f" throughput {thr[0] / base['throughput']:.2f}x of coglet direct"
                )
                if c == 1:
                    line += f", platform CPU {cpu[0] - base['cpu_ms']:.2f} ms/pred"
            print(line)
            results.setdefault(t.name, {})[str(c)] = {
                "p50_ms": p50[0] / 1000,
                "p99_ms": p99[0] / 1000,
                "throughput": thr[0],
                "cpu_ms_per_prediction": cpu[0],
                "conflicts_per_prediction": conflicts,
                "cycles": rows,
            }
    return results


def verdicts(results: dict[str, Any]) -> None:
    """The issue's targets, each against coglet direct (and SQLite) of this very run."""
    direct = results["coglet direct"]
    print("\nTargets:")
    for name in ("modelyard SQLite", "modelyard PostgreSQL"):
        if name not in results:
            continue
        one, eight = results[name]["1"], results[name]["8"]
        checks = [
            ("p50, 1 client <= coglet + 1 ms", one["p50_ms"] - direct["1"]["p50_ms"], 1.0),
            ("p99, 1 client <= coglet + 3 ms", one["p99_ms"] - direct["1"]["p99_ms"], 3.0),
            (
                "platform CPU per prediction <= 1 ms",
                one["cpu_ms_per_prediction"] - direct["1"]["cpu_ms_per_prediction"],
                1.0,
            ),
        ]
        if name != "modelyard SQLite" and "modelyard SQLite" in results:
            sqlite = results["modelyard SQLite"]["1"]["p50_ms"]
            checks.append(("p50 <= SQLite's + 2 ms", one["p50_ms"] - sqlite, 2.0))
        for what, value, limit in checks:
            print(f"  {name:<22} {what:<38} {value:+7.2f} ms  {_met(value <= limit)}")
        ratio = eight["throughput"] / direct["8"]["throughput"]
        what = "8 clients >= 1.0x coglet's throughput"
        print(f"  {name:<22} {what:<38} {ratio:7.2f}x    {_met(ratio >= 1.0)}")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MODELYARD_BENCH_POSTGRES", "postgresql://127.0.0.1:5432"),
        help="a PostgreSQL server the bench may create a database on ('' to skip)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        help="the source tree of another commit (e.g. a `git worktree`): its `modelyard serve`"
        " on SQLite joins the cycles as one more target, for a before/after in one run",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make wrk` (Debian package wrk)")
    envs = REPO / ".cache" / "test-envs"
    envs.mkdir(parents=True, exist_ok=True)
    concurrencies = [1, 8]
    with tempfile.TemporaryDirectory(prefix="modelyard-wrk-") as tmp:
        platforms: list[tuple[str, Platform]] = []
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        instance: Instance | None = None
        try:
            lite = Platform(Path(tmp) / "sqlite", envs)
            platforms.append(("modelyard SQLite", lite))
            version = lite.push(HERE / "models" / "hello", "admin/hello")
            database = args.postgres and postgres_database(args.postgres, "modelyard_bench")
            if database:
                pg = Platform(Path(tmp) / "pg", envs, {"MODELYARD_DATABASE_URL": database})
                pg.push(HERE / "models" / "hello", "admin/hello")
                platforms.append(("modelyard PostgreSQL", pg))
            for tree in args.compare:
                code = {"PYTHONPATH": str(tree.resolve() / "src")}
                other = Platform(Path(tmp) / f"compare-{len(platforms)}", envs, code)
                platforms.append((f"SQLite, {tree.name}", other))
                other.push(HERE / "models" / "hello", "admin/hello")
                name = f"modelyard_bench_{len(platforms)}"
                if database and (url := postgres_database(args.postgres, name)):
                    code["MODELYARD_DATABASE_URL"] = url
                    other = Platform(Path(tmp) / f"compare-{len(platforms)}", envs, code)
                    platforms.append((f"PostgreSQL, {tree.name}", other))
                    other.push(HERE / "models" / "hello", "admin/hello")
            instance = Instance(lite.spec(version), tmp_root=Path(tmp))
            asyncio.run_coroutine_threadsafe(instance.start(), loop).result(120)
            assert instance.pid is not None
            targets = [
                Target(
                    "coglet direct",
                    f"http://127.0.0.1:{instance.port}",
                    "/predictions",
                    instance.pid,
                )
            ]
            for name, p in platforms:
                targets.append(
                    Target(
                        name,
                        p.url,
                        "/v1/models/admin/hello/predictions",
                        p.process.pid,
                        {"BENCH_AUTH": p.headers["Authorization"], "BENCH_PREFER": "wait"},
                    )
                )
                # The first prediction boots the instance: not part of any measurement.
                httpx.post(
                    f"{p.url}/v1/models/admin/hello/predictions",
                    json={"input": {"text": "x"}},
                    headers={**p.headers, "Prefer": "wait"},
                    timeout=120,
                ).raise_for_status()
            load = os.getloadavg()
            print(
                f"wrk, {args.cycles} cycles of {args.seconds:g} s per target and connection count;"
                f" {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
            )
            for t in targets:  # warm-up: connections, caches, the JIT of nothing
                wrk(t, 1, 1)
            for cycle in range(args.cycles):
                for c in concurrencies:
                    for t in targets:
                        t.runs.setdefault(c, []).append(wrk(t, c, args.seconds))
                print(f"  cycle {cycle + 1} done, load average {os.getloadavg()[0]:.2f}")
            results = report(targets, concurrencies)
            verdicts(results)
            results["load_average_at_start"] = load
        finally:
            if instance is not None:
                asyncio.run_coroutine_threadsafe(instance.stop(), loop).result(30)
            for _, p in platforms:
                p.stop()
            time.sleep(0.2)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
