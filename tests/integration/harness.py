"""A real `modelyard serve` process for black-box tests: free port, temp data dir, /health."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "models"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def modelyard(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "modelyard"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Server:
    """One platform process; `start`/`stop`/`kill` can be repeated on the same data dir."""

    data_dir: Path
    envs_dir: Path
    settings: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    token: str = ""
    ca_file: str | None = None
    command: str = "serve"  # or `api` / `worker`, for the processes of a cluster

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"server-{self.port}.log"

    def env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "REPLICATE_"))
        }
        env.update(
            MODELYARD_DATA_DIR=str(self.data_dir),
            MODELYARD_ENVS_DIR=str(self.envs_dir),
            MODELYARD_PORT=str(self.port),
            MODELYARD_HOST="127.0.0.1",
            MODELYARD_REGISTER_BUILTIN_MODELS="0",
            MODELYARD_URL=self.url,
        )
        if self.token:
            env["MODELYARD_TOKEN"] = self.token
        if self.ca_file:
            env["SSL_CERT_FILE"] = self.ca_file
        env.update(self.settings)
        return env

    def start(self, timeout: float = 60) -> Server:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it (see `wait_ready`)."""
        if not self.token:
            result = modelyard("tokens", "create", env=self.env())
            assert result.returncode == 0, result.stderr
            self.token = result.stdout.strip()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [str(BIN / "modelyard"), self.command],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> Server:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if (
                    httpx.get(f"{self.url}/health", verify=self.verify(), timeout=1).status_code
                    == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready: {self.log_path.read_text()[-3000:]}")

    def stop(self, grace: float = 15) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True

    def http(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=self.verify(),
            timeout=120,
            **kwargs,  # type: ignore[arg-type]
        )

    def cli(
        self, *args: str, cwd: Path | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return modelyard(*args, env=self.env(), cwd=cwd, timeout=timeout)

    def push(self, scenario: str | Path, model: str, *extra: str) -> str:
        """Push a test model directory; returns the version id."""
        return push_with(self.cli, scenario, model, *extra)


def push_with(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    scenario: str | Path,
    model: str,
    *extra: str,
) -> str:
    """`modelyard push` a test model directory through `cli`; returns the version id."""
    directory = scenario if isinstance(scenario, Path) else MODELS / scenario
    result = cli("push", str(directory), model, *extra)
    assert result.returncode == 0, f"push failed:\n{result.stdout}\n{result.stderr}"
    line = [ln for ln in result.stdout.splitlines() if "Pushed" in ln][-1]
    return line.rsplit(":", 1)[-1].strip()


def processes_with(marker: str) -> Iterator[int]:
    """PIDs whose command line, environment or working directory mentions `marker`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker.encode() in cmdline or marker.encode() in environ or cwd.startswith(marker):
            yield int(entry.name)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(root: int) -> list[int]:
    """Live descendants of `root` as this machine numbers them (sandboxes have their own)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = parent_of(int(entry.name))
            except (OSError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def worker_of(http: httpx.Client, prediction_id: str, timeout: float = 30) -> int:
    """The host pid of the model worker running `prediction_id` (a sandboxed model sees
    only its own PID namespace, so the pid it prints is not the machine's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = http.get(f"/v1/predictions/{prediction_id}").json()
        instance_id = prediction.get("instance_id")
        if prediction["status"] == "processing" and instance_id:
            instance = http.get(f"/v1/instances/{instance_id}").json()
            for pid in descendants(instance["pid"]):
                try:
                    if b"_run_worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        return pid
                except OSError:
                    continue
        time.sleep(0.1)
    raise AssertionError(f"no model worker found for {prediction_id}")
