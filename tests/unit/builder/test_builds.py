"""build_version end to end, and the result served by a real coglet."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from modelyard.builder import (
    SCHEMA_PATH,
    BuiltVersion,
    build_version,
    bundle_digest,
    pack_bundle,
    unpack_bundle,
)

STREAMING_MODEL = {
    "cog.yaml": """
    build:
      gpu: false
    run: "predict.py:Runner"
    environment:
      - GREETING=hello
    """,
    "predict.py": """
    import os
    from cog import BaseRunner, ConcatenateIterator, Input


    class Runner(BaseRunner):
        def setup(self) -> None:
            self.greeting = os.environ["GREETING"]

        def run(
            self,
            name: str = Input(description="Who to greet", regex="^[a-z]+$"),
            times: int = Input(default=2, ge=1, le=5),
        ) -> ConcatenateIterator[str]:
            print("greeting", name)
            for _ in range(times):
                yield f"{self.greeting} {name} "
    """,
}


async def test_pushed_bundle_builds_with_its_digest_as_id(make_model, tmp_path, shared_envs_dir):
    model = make_model(STREAMING_MODEL)
    source = tmp_path / "version" / "src"
    digest = unpack_bundle(pack_bundle(model), source)
    lines: list[str] = []
    version = await build_version(source, envs_dir=shared_envs_dir, log=lines.append)
    assert version.id == digest == bundle_digest(model)
    assert bundle_digest(source) == digest  # .cog/ and __pycache__/ do not count
    assert (source / SCHEMA_PATH).is_file()
    assert version.source_dir == source.resolve()
    assert version.python_executable == version.venv_dir / "bin" / "python"
    assert version.environment == {"GREETING": "hello"}
    assert version.gpu is False
    assert version.config["environment"] == ["GREETING=hello"]
    assert version.python_requested is None and version.build_seconds > 0
    stored = json.loads(json.dumps(version.to_dict()))
    assert stored["id"] == digest and stored["venv_dir"] == str(version.venv_dir)
    assert stored["config"] == version.config
    assert any(line.startswith("Built version") for line in lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _coglet(version: BuiltVersion) -> Iterator[httpx.Client]:
    port = _free_port()
    env = {
        **os.environ,
        **version.environment,
        "PATH": f"{version.venv_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PORT": str(port),
        "COG_PREDICT_TYPE_STUB": version.predict_ref,
        "COG_MAX_CONCURRENCY": str(version.concurrency),
        "LOG_FORMAT": "console",
    }
    env.pop("VIRTUAL_ENV", None)
    process = subprocess.Popen(
        [version.python_executable, "-m", "cog.server.http", "--host", "127.0.0.1"],
        cwd=version.source_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    status = client.get("/health-check").json()["status"]
                except httpx.TransportError:
                    status = "DOWN"
                if status == "READY":
                    break
                assert status in ("DOWN", "STARTING"), status
                assert time.monotonic() < deadline, "coglet did not become ready"
                time.sleep(0.05)
            yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _post(client: httpx.Client, body: dict, **kwargs) -> httpx.Response:
    # coglet answers 409 when a slot is not yet back in its pool, even for sequential
    # requests (cog-runtime.md §0.3); retry shortly, as the platform's director does.
    for _ in range(50):
        response = client.post("/predictions", json=body, **kwargs)
        if response.status_code != 409:
            return response
        time.sleep(0.005)
    return response


def _sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_coglet_serves_and_validates_with_the_generated_schema(make_model, shared_envs_dir):
    model = make_model(STREAMING_MODEL)
    version = await build_version(model, envs_dir=shared_envs_dir, log=lambda line: None)
    with _coglet(version) as client:
        served = client.get("/openapi.json")
        assert served.status_code == 200
        assert (
            served.json()["components"]["schemas"]["Input"]
            == (version.openapi_schema["components"]["schemas"]["Input"])
        )

        bad = _post(client, {"input": {"name": "BOB", "times": 9}})
        assert bad.status_code == 422
        problems = {tuple(d["loc"]): d["type"] for d in bad.json()["detail"]}
        assert problems == {
            ("body", "input", "name"): "value_error",
            ("body", "input", "times"): "value_error",
        }
        missing = _post(client, {"input": {}})
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["type"] == "value_error.missing"

        good = _post(client, {"input": {"name": "bob"}})
        assert good.status_code == 200
        body = good.json()
        assert body["status"] == "succeeded"
        assert body["output"] == ["hello bob ", "hello bob "]

        # x-cog-streaming is always on: every prediction can be followed over SSE.
        streamed = _post(
            client,
            {"input": {"name": "ann", "times": 3}},
            headers={"Accept": "text/event-stream"},
        )
        assert streamed.status_code == 200
        events = _sse(streamed.text)
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "start" and kinds[-1] == "completed"
        assert [data["chunk"] for kind, data in events if kind == "output"] == ["hello ann "] * 3
        assert ("log", {"data": "greeting ann\n", "source": "stdout"}) in events
        assert events[-1][1]["status"] == "succeeded"
