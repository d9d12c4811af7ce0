"""`python -m bench.catalog`: catalog models via the platform vs the same engine called directly.

Pushes `models/smollm2-135m-instruct` and `models/all-minilm-l6-v2` to a fresh `modelyard
serve`, and starts a "direct" process in the very same built version (same venv, same
`predict.py`) that calls the engine in-process. Runs alternate between the two paths so
that both see the same machine load:

* LLM: time to first token and decode speed (tokens/s after the first), greedy, same prompt;
  through the platform = create + `urls.stream` (SSE), as `replicate.stream()` does;
* embeddings: texts/s for a batch of texts, `Prefer: wait` vs in-process `encode`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench.__main__ import Platform

REPO = Path(__file__).resolve().parent.parent
LLM_INPUT = {
    "prompt": "Explain in a few sentences why the sky is blue.",
    "max_new_tokens": 64,
    "temperature": 0,
    "seed": 0,
}
TEXTS = [
    f"Sentence number {i} is about {topic}."
    for i, topic in enumerate(
        ["the sea", "a cat", "running a model", "bread", "music", "the moon", "trains", "rain"] * 16
    )
]

# Runs inside the version's venv, cwd = its source: the engine, called directly.
DIRECT = r"""
import json, sys, time
import predict
kind = sys.argv[1]
if kind == "llm":
    tokenizer, model, device = predict.load()
else:
    model = predict.load()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    began = time.perf_counter()
    if kind == "llm":
        stamps = []
        for piece in predict.generate(tokenizer, model, device, **job):
            stamps.append(time.perf_counter() - began)
        print(json.dumps({"stamps": stamps}), flush=True)
    else:
        texts = predict.parse_texts(job["texts"])
        predict.embed(model, texts, job.get("batch_size", 32))
        print(json.dumps({"seconds": time.perf_counter() - began, "n": len(texts)}), flush=True)
"""


class Direct:
    """The engine in its own process, in the version's environment."""

    def __init__(self, platform: Platform, version_id: str, kind: str) -> None:
        with sqlite3.connect(platform.data_dir / "modelyard.db") as db:
            source, venv, environment = db.execute(
                "select source_dir, venv_dir, environment from versions where id = ?",
                (version_id,),
            ).fetchone()
        env = {"PATH": f"{venv}/bin:/usr/bin:/bin", **json.loads(environment or "{}")}
        self.process = subprocess.Popen(
            [f"{venv}/bin/python", "-c", DIRECT, kind],
            cwd=platform.data_dir / source,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.read()

    def call(self, job: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        return self.read()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the direct engine process exited")
        return json.loads(line)  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def platform_stream(platform: Platform, version: str, inputs: dict[str, Any]) -> list[float]:
    """Seconds from the create request to each output event of the prediction's SSE stream."""
    with httpx.Client(base_url=platform.url, headers=platform.headers, timeout=300) as client:
        began = time.perf_counter()
        created = client.post(
            "/v1/predictions", json={"version": version, "input": inputs, "stream": True}
        ).json()
        stamps = []
        headers = {"Accept": "text/event-stream"}
        with client.stream("GET", created["urls"]["stream"], headers=headers) as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "output":
                    stamps.append(time.perf_counter() - began)
                elif event == "done":
                    break
    return stamps


def platform_embed(platform: Platform, version: str, texts: str) -> float:
    with httpx.Client(base_url=platform.url, headers=platform.headers, timeout=300) as client:
        began = time.perf_counter()
        response = client.post(
            "/v1/predictions",
            json={"version": version, "input": {"texts": texts}},
            headers={"Prefer": "wait=60"},
        )
        elapsed = time.perf_counter() - began
    assert response.json()["status"] == "succeeded", response.text
    return elapsed


def decode_rate(stamps: list[float]) -> float:
    """Tokens per second after the first token."""
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def llm_stats(runs: list[list[float]]) -> dict[str, float]:
    """Median time to first token and median decode tokens/s over runs of stamps."""
    ttft = statistics.median(r[0] for r in runs)
    rates = [decode_rate(r) for r in runs]
    tokens = statistics.median(len(r) for r in runs)
    return {"ttft_s": ttft, "tokens_per_s": statistics.median(rates), "tokens": tokens}


def paired_ratio(mine: list[float], theirs: list[float]) -> float:
    """Median of per-round ratios: each pair ran back to back, under the same machine load."""
    return statistics.median(m / t for m, t in zip(mine, theirs, strict=True))


def bench_llm(platform: Platform, version: str, rounds: int) -> dict[str, Any]:
    direct = Direct(platform, version, "llm")
    try:
        platform_stream(platform, version, LLM_INPUT)  # warm: starts the instance
        direct.call(LLM_INPUT)
        mine: list[list[float]] = []
        theirs: list[list[float]] = []
        for _ in range(rounds):
            theirs.append(direct.call(LLM_INPUT)["stamps"])
            mine.append(platform_stream(platform, version, LLM_INPUT))
    finally:
        direct.stop()
    d, p = llm_stats(theirs), llm_stats(mine)
    ratio = paired_ratio([decode_rate(r) for r in mine], [decode_rate(r) for r in theirs])
    ttft_ratio = paired_ratio([r[0] for r in theirs], [r[0] for r in mine])
    print("LLM smollm2-135m-instruct (greedy, 64 new tokens):")
    print(f"  direct    {d['tokens_per_s']:6.2f} tokens/s   TTFT {d['ttft_s'] * 1000:7.1f} ms")
    print(f"  modelyard {p['tokens_per_s']:6.2f} tokens/s   TTFT {p['ttft_s'] * 1000:7.1f} ms")
    added = (p["ttft_s"] - d["ttft_s"]) * 1000
    print(f"  paired ratios: tokens/s {ratio:.3f}, TTFT direct/modelyard {ttft_ratio:.3f}")
    print(f"  TTFT added by the platform (medians) {added:.1f} ms")
    return {"direct": d, "modelyard": p, "tokens_per_s_ratio": ratio, "ttft_ratio": ttft_ratio}


def bench_embeddings(platform: Platform, version: str, rounds: int) -> dict[str, Any]:
    texts = "\n".join(TEXTS)
    direct = Direct(platform, version, "embed")
    try:
        platform_embed(platform, version, texts)
        direct.call({"texts": texts})
        mine, theirs = [], []
        for _ in range(rounds):
            theirs.append(direct.call({"texts": texts})["seconds"])
            mine.append(platform_embed(platform, version, texts))
    finally:
        direct.stop()
    d = len(TEXTS) / statistics.median(theirs)
    p = len(TEXTS) / statistics.median(mine)
    ratio = paired_ratio(theirs, mine)  # time direct / time platform = throughput ratio
    print(f"Embeddings all-minilm-l6-v2 ({len(TEXTS)} texts per request):")
    print(f"  direct    {d:7.1f} texts/s")
    print(f"  modelyard {p:7.1f} texts/s   paired ratio {ratio:.3f}")
    return {"direct_texts_per_s": d, "modelyard_texts_per_s": p, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="measured runs per path")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    envs = REPO / ".cache" / "test-envs"
    envs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-catalog-") as tmp:
        platform = Platform(Path(tmp) / "data", envs)
        try:
            llm = platform.push(REPO / "models" / "smollm2-135m-instruct", "admin/smollm2")
            minilm = platform.push(REPO / "models" / "all-minilm-l6-v2", "admin/minilm")
            results["llm"] = bench_llm(platform, llm, args.rounds)
            results["embeddings"] = bench_embeddings(platform, minilm, args.rounds)
        finally:
            platform.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
