"""One supervised coglet process serving one model version: spawn, health, predict, cancel, stop.

coglet 0.23.1 executes well but has sharp edges, hidden here from the instance's owner:
spurious 409s when a slot is not back yet, a worker crash that leaves the server UNHEALTHY
for good, a cancel that cannot interrupt a blocking C call, a hard-coded /tmp/coglet, and a
server that stalls small SSE writes. Its wire format is in `_coglet.py`, the stall in `_http.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import secrets
import shutil
import signal
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from modelyard.core.errors import InstanceError
from modelyard.runtime import _coglet, _processes, _training
from modelyard.runtime._coglet import (
    CRASHED,
    STOPPED,
    Done,
    DoneStatus,
    Log,
    Metric,
    Output,
    RuntimeEvent,
    Started,
    Undelivered,
    WorkerCrashed,
)
from modelyard.runtime._training import WebhookFeed
from modelyard.sandbox import (
    NO_SANDBOX,
    SANDBOX_SOURCE,
    SANDBOX_TMP,
    Mounts,
    Sandbox,
    clean_environment,
    environment_paths,
)

__all__ = [
    "CRASHED",
    "STOPPED",
    "Done",
    "DoneStatus",
    "Instance",
    "InstanceSpec",
    "Log",
    "Metric",
    "Output",
    "RuntimeEvent",
    "Started",
    "State",
    "Undelivered",
]

logger = logging.getLogger(__name__)

State = Literal["booting", "idle", "busy", "stopping", "stopped", "failed"]

# coglet 0.23.1 hard-codes this directory (TMPDIR is ignored) and leaves one per prediction;
# in a sandbox /tmp is the instance's private folder.
_COGLET_PREDICTIONS = Path("/tmp/coglet/predictions")
_LAUNCHER = (Path(__file__).parent / "_launcher.py").read_text()
_INSTANCE_SOCKET = "modelyard-instance.sock"  # in the sandbox's /tmp; the relay to coglet
_SANDBOX_UPLOAD_SOCKET = Path("/run/modelyard/upload.sock")
_SANDBOX_VENV = Path("/venv")
_DELIVERIES = "/v1/deliveries/"  # signed file URLs, served on the instance-facing socket
_SANDBOX_COGLET_PORT = 5000
_SANDBOX_UPLOAD_PORT = 5001
# The only variables a model process inherits from the platform: no platform secrets.
_INHERITED = frozenset(
    "HOME USER LOGNAME LANG LANGUAGE TZ LD_LIBRARY_PATH SSL_CERT_FILE SSL_CERT_DIR"
    " REQUESTS_CA_BUNDLE CURL_CA_BUNDLE HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy"
    " no_proxy".split()
)
_PREDICTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_OUTPUT_TAIL = 400
_SETUP_LINES = 2000
# The worker's last setup line, success or failure (coglet's JSON log format).
_SETUP_END = re.compile(rb'"message":"(Setup complete|Worker initialization failed)"')
_BOOT_MARGIN = 60.0  # seconds allowed on top of setup_timeout for spawning and imports
_CONFLICT_LIMIT = 30.0  # seconds of 409 while we hold a free slot before giving up
_SHUTDOWN_WAIT = 2.0
_TERM_WAIT = 1.0
_WORKER_MARKER = b"_run_worker"  # coglet's worker: python -c "...coglet.server._run_worker()"
_WORKER_DIED = "the model worker crashed (its process exited)"
_ORPHAN_GRACE = 1.0  # seconds coglet gets to end what a dead worker had


@dataclass(frozen=True)
class InstanceSpec:
    """How to run one model version; the builder and the version record supply it."""

    version_id: str
    source_dir: Path  # coglet's cwd; holds .cog/openapi_schema.json
    venv_dir: Path  # its bin/ goes first on PATH: coglet spawns its worker as bare `python`
    predict_ref: str  # "predict.py:Predictor" -> COG_PREDICT_TYPE_STUB
    concurrency: int = 1  # -> COG_MAX_CONCURRENCY (>1 needs an async run())
    environment: Mapping[str, str] = field(default_factory=dict)  # cog.yaml `environment`
    gpu_devices: tuple[int, ...] | None = None  # -> CUDA_VISIBLE_DEVICES; None hides every GPU
    upload_url: str | None = None  # coglet --upload-url: output files are PUT there
    # False: coglet returns output files inline (data URLs). It lists uploaded files in the
    # order their uploads finished, so a `list[Path]` output is only in order when inline.
    upload_outputs: bool = True
    setup_timeout: float | None = None  # -> COG_SETUP_TIMEOUT (whole seconds, at least 1)
    extra_env: Mapping[str, str] = field(default_factory=dict)  # e.g. COG_WEIGHTS
    # `train`: coglet in train mode, predict_ref its COG_TRAIN_TYPE_STUB (see _training.py).
    mode: Literal["predict", "train"] = "predict"

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if ":" not in self.predict_ref:
            raise ValueError("predict_ref must look like 'predict.py:Predictor'")
        if self.mode == "train" and not self.upload_url:
            raise ValueError("a training instance needs upload_url: its webhooks go there")


@dataclass(eq=False)
class _Run:
    id: str
    started: bool = False  # coglet sent `start`, so a cancel can reach it
    cancel_requested: bool = False
    killed: bool = False  # the instance was killed to enforce this run's cancel
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    feed: WebhookFeed | None = None  # a training's events, which coglet sends by webhook


class Instance:
    """A coglet process for one version, with `spec.concurrency` prediction slots.

    Lifecycle: `await start()` (booting -> idle, or InstanceError), `predict()` while
    `free_slots > 0` (idle <-> busy), then `await stop()` (stopping -> stopped). A crash, an
    exit or `kill()` moves it to `failed`; the owner then calls `stop()` to reap it and
    starts a replacement.

        instance = Instance(spec, pid_dir=data_dir / "instances")
        await instance.start()
        async for event in instance.predict(prediction_id, {"prompt": "hi"}):
            ...  # Started, Log, Output, Metric, then exactly one Done
        await instance.stop()
    """

    def __init__(
        self,
        spec: InstanceSpec,
        *,
        instance_id: str | None = None,
        cancel_grace: float = 10.0,
        pid_dir: Path | None = None,
        tmp_root: Path | None = None,
        sandbox: Sandbox = NO_SANDBOX,
        upload_socket: Path | None = None,
        sandbox_network: bool = False,
    ) -> None:
        self.id = instance_id or f"inst-{uuid.uuid4().hex[:12]}"
        self.spec = spec
        self.state: State = "booting"
        self.failure: str | None = None  # why the instance failed, for logs and errors
        self.pid: int | None = None
        self.port: int | None = None
        self.started_at: datetime | None = None
        self.ready_at: datetime | None = None
        self.idle_since: float | None = None  # time.monotonic() when the last slot freed
        self.conflict_retries = 0  # spurious 409s absorbed, for diagnostics
        self.on_failure: Callable[[], None] | None = None  # the owner's wake-up when it fails
        self._cancel_grace = cancel_grace
        self._pid_dir = pid_dir
        self._tmp_root = tmp_root
        self._sandbox = sandbox
        self._upload_socket = upload_socket  # the platform's, mounted into the sandbox
        self._sandbox_network = sandbox_network
        self._tmp_fd: int | None = None  # the private tmp folder, held open (see _socket_path)
        self._upload_port = _SANDBOX_UPLOAD_PORT  # the relay's port to the platform, inside
        # The platform's signed file URLs, which a sandboxed model reaches through the relay.
        self._deliveries = _origin(spec.upload_url) + _DELIVERIES if spec.upload_url else ""
        # Authorises this instance's output uploads, and only for predictions it runs.
        self.upload_token = secrets.token_urlsafe(24)
        self._tmpdir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._coglet: _coglet.Coglet | None = None
        self._output: deque[bytes] = deque(maxlen=_OUTPUT_TAIL)
        self._setup_output: list[bytes] = []
        self._setup_done = asyncio.Event()
        self._runs: dict[str, _Run] = {}
        # Cancels that came before their prediction was admitted (see `cancel`).
        self._canceled_early: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._exited = asyncio.Event()
        self._stopping = False
        self._reaped = False  # the group is gone: never signal its (reusable) pid again
        self._streaming = True
        self._worker_fd: int | None = None  # pidfd of coglet's worker, readable once it exits
        self._tmp_baseline: frozenset[str] = frozenset()  # TMPDIR entries made before ready
        self._finished_folders: list[Path] = []  # coglet's, of finished runs, to remove

    def __repr__(self) -> str:
        return (
            f"Instance(id={self.id!r}, version={self.spec.version_id[:12]!r}, state={self.state!r})"
        )

    @property
    def in_flight(self) -> int:
        return len(self._runs)

    @property
    def alive(self) -> bool:
        """The process runs and the instance has not failed (it may still be booting)."""
        return (
            self._process is not None
            and not self._exited.is_set()
            and self.state in ("booting", "idle", "busy")
        )

    def deliver(self, prediction_id: str, payload: Mapping[str, Any]) -> bool:
        """A webhook coglet sent for a training running here; False if it is not running."""
        run = self._runs.get(prediction_id)
        if run is None or run.feed is None:
            return False
        run.feed.offer(payload)
        return True

    def runs(self, prediction_id: str) -> bool:
        """Whether `prediction_id` is in one of this instance's slots now."""
        return prediction_id in self._runs

    @property
    def free_slots(self) -> int:
        if self.state not in ("idle", "busy"):
            return 0
        return max(0, self.spec.concurrency - len(self._runs))

    @property
    def tmpdir(self) -> Path | None:
        return self._tmpdir

    @property
    def setup_logs(self) -> str:
        """What coglet and the model's setup() printed while booting, one line each."""
        return "\n".join(_coglet.render(line) for line in self._setup_output)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn coglet and wait until it is READY.

        Raises InstanceError when setup fails, times out or the process exits first; its
        detail holds the setup error and the tail of coglet's output. On any failure or
        cancellation the process group is killed and its files removed.
        """
        if self._process is not None:
            raise RuntimeError("an Instance can be started only once")
        began = time.monotonic()
        self.started_at = datetime.now(UTC)
        try:
            for attempt in range(3):
                await self._spawn()
                try:
                    health = await self._wait_ready(began)
                    break
                except _PortTaken:
                    if attempt == 2:
                        raise InstanceError("could not find a free port for the model") from None
                    await self._end_process()
            await self._ready(health, began)
        except BaseException as exc:
            self._stopping = True
            self.state = "failed"
            self.failure = self.failure or (
                exc.detail if isinstance(exc, InstanceError) else repr(exc)
            )
            await self._reap()
            raise

    async def stop(self, grace: float = 5.0) -> None:
        """Drain, then end the process group and remove the instance's files.

        Waits up to `grace` seconds for in-flight predictions (they end as failed, "stopped",
        if they outlive it), asks coglet to exit with POST /shutdown when idle, then SIGTERM
        and SIGKILL to the whole group. Safe to call in any state, more than once.
        """
        if self.state == "stopped":
            return
        self._stopping = True
        if self.state != "failed":
            self.state = "stopping"
        if self._process is not None:
            deadline = time.monotonic() + grace
            await _wait_event(self._drained, deadline - time.monotonic())
            if not self._exited.is_set() and not self._runs and self._coglet is not None:
                await self._coglet.shutdown(_SHUTDOWN_WAIT)
                await _wait_event(self._exited, _SHUTDOWN_WAIT)
            if not self._exited.is_set() and not self._runs and self.pid is not None:
                _processes.kill_group(self.pid, signal.SIGTERM)
                await _wait_event(self._exited, _TERM_WAIT)
        await self._reap()
        self.state = "stopped"
        logger.info("instance %s stopped", self.id)

    def kill(self, reason: str = "killed by its owner") -> None:
        """SIGKILL the process group now; in-flight predictions end failed.

        The instance's files are removed once the process is gone; `stop()` may still be
        awaited to be sure everything is reaped.
        """
        if self.pid is not None and not self._reaped:
            _processes.kill_group(self.pid)
        if not self._stopping and self.state not in ("failed", "stopped"):
            self._fail(reason)

    async def healthy(self) -> bool:
        """Whether coglet can take predictions. A crashed worker (UNHEALTHY with a closed
        healthcheck channel), SETUP_FAILED or DEFUNCT mark the instance failed for good."""
        if self.state not in ("idle", "busy") or self._exited.is_set() or self._coglet is None:
            return False
        health = await self._coglet.health()
        status = health.get("status")
        if status in ("READY", "BUSY"):
            return True
        if _coglet.worker_gone(health):
            self._fail("the model worker crashed")
        elif status in ("SETUP_FAILED", "DEFUNCT"):
            self._fail(f"coglet reports {status}")
        return False

    # -- predictions --------------------------------------------------------------------

    async def predict(
        self,
        prediction_id: str,
        input: Mapping[str, Any],
        *,
        context: Mapping[str, str] | None = None,
    ) -> AsyncIterator[RuntimeEvent]:
        """Run one prediction, yielding its events in order and exactly one `Done` last.

        Raises InstanceError before anything is yielded when the prediction never reached
        the model (no free slot, instance not running or unreachable): the caller may run it
        elsewhere. Once iteration starts every outcome is a `Done`: a crash mid-prediction is
        `failed` with the CRASHED message (and the instance is marked failed), an input the
        schema rejects is `failed` without `Started`. Iterate to the end: the slot is freed
        when the iterator finishes. Abandoning it early cancels the prediction; the slot
        stays taken until coglet has really stopped it.
        """
        if not _PREDICTION_ID.match(prediction_id):
            raise ValueError("prediction ids are 1-128 letters, digits, '_', '-' or '.'")
        if prediction_id in self._runs:
            raise InstanceError(f"prediction {prediction_id} is already running on {self.id}")
        if self.free_slots == 0:
            raise InstanceError(f"instance {self.id} has no free slot (state {self.state})")
        run = self._admit(prediction_id)
        body: dict[str, Any] = {"id": prediction_id, "input": self._reachable(input)}
        if context:
            body["context"] = dict(context)
        if run.feed is not None:
            body["webhook"] = self._events_url(prediction_id)
            body["webhook_events_filter"] = _training.EVENTS
        response: httpx.Response | None = None
        finished = False
        try:
            response = await self._open(run, body)
            if response is None:
                finished = True
                yield Done(status="canceled")
                return
            async with aclosing(self._relay(run, response)) as events:
                async for event in events:
                    finished = finished or isinstance(event, Done)
                    yield event
            finished = True
        finally:
            if response is not None:
                await response.aclose()
            if finished or not run.started:
                self._release(run)
            else:
                self._background(self._abandon(run))

    async def cancel(self, prediction_id: str) -> None:
        """Cancel a prediction on this instance; returns once it has ended.

        coglet is asked to cancel (repeatedly, in case one request is lost). If the prediction
        is still running after the instance's `cancel_grace` seconds (e.g. stuck in a C call),
        the process group is killed: the prediction then ends `canceled`, other predictions on
        the instance end `failed`, and the instance is `failed`. A cancel for an id this instance
        has not admitted yet (its runtime assigned it here and is still marking it started) is
        kept: when that prediction arrives it ends `canceled` without reaching the model.
        """
        run = self._runs.get(prediction_id)
        if run is None:
            self._canceled_early.add(prediction_id)
            return
        run.cancel_requested = True
        await self._enforce_cancel(run)

    # -- spawning -----------------------------------------------------------------------

    async def _spawn(self) -> None:
        if self._tmpdir is None:
            self._tmpdir = Path(
                tempfile.mkdtemp(prefix=f"modelyard-{self.id}-", dir=self._tmp_root)
            )
            self._sandbox.give(self._tmpdir)
        sandboxed = self._sandbox.enabled
        venv = _SANDBOX_VENV if sandboxed else self.spec.venv_dir
        python = str(venv / "bin" / "python")
        env = _environment(self.spec, self._tmpdir, venv=venv, sandboxed=sandboxed)
        uds: str | None = None
        if sandboxed:
            argv, uds, port = self._sandboxed_command(python, env)
        else:
            port = _processes.free_port()
            env.update(PORT=str(port), MODELYARD_PARENT_PID=str(os.getpid()))
            if self.spec.upload_url and self.spec.upload_outputs:
                env["MODELYARD_UPLOAD_URL"] = f"{self.spec.upload_url}{self.upload_token}/"
            argv = [python, "-c", _processes.BOOTSTRAP, "--host", "127.0.0.1"]
        self._exited = asyncio.Event()
        self._output.clear()
        self._setup_output.clear()
        self._setup_done.clear()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.spec.source_dir,  # bwrap moves to /src inside
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                limit=1 << 20,
            )
        except OSError as exc:
            raise InstanceError(f"could not start the model process: {exc}") from exc
        self.pid = self._process.pid
        if self._pid_dir is not None:
            _processes.record(self._pid_dir, self.id, self.spec.version_id, self.pid)
        self.port = port
        self._coglet = _coglet.Coglet(
            port,
            max_connections=self.spec.concurrency + 4,
            uds=uds,
            resource="trainings" if self.spec.mode == "train" else "predictions",
        )
        self._background(self._read_output(self._process))
        self._background(self._watch(self._process))
        logger.info(
            "instance %s spawned for version %s (pid %d, port %d)",
            self.id,
            self.spec.version_id[:12],
            self.pid,
            self.port,
        )

    async def _wait_ready(self, began: float) -> dict[str, Any]:
        assert self._coglet is not None
        deadline = None
        if self.spec.setup_timeout is not None:
            deadline = began + self.spec.setup_timeout + _BOOT_MARGIN
        delay = 0.001
        setup_seen = False
        while True:
            if self._exited.is_set():
                await asyncio.sleep(0.05)  # let the reader catch the last lines
                tail = self._output_tail()
                if "address already in use" in tail.lower():
                    raise _PortTaken
                exited = _describe_exit(self._returncode())
                raise InstanceError(
                    self._with_tail(
                        f"The model process exited ({exited}) before it was ready", tail
                    )
                )
            health = await self._coglet.health()
            status = health.get("status")
            if status in ("READY", "BUSY"):
                return health
            if status in ("SETUP_FAILED", "DEFUNCT"):
                await _wait_event(self._setup_done, 0.2)
                raise InstanceError(
                    self._with_tail(
                        f"Model setup failed: {_coglet.setup_error(health)}", self.setup_logs
                    )
                )
            if deadline is not None and time.monotonic() > deadline:
                waited = time.monotonic() - began
                raise InstanceError(
                    self._with_tail(
                        f"The model was not ready after {waited:.0f} s", self._output_tail()
                    )
                )
            if self._setup_done.is_set():
                if not setup_seen:  # READY follows the worker's "Setup complete" by a few ms
                    setup_seen, delay = True, 0.001
                await _wait_event(self._exited, delay)
            else:
                await _wait_event(self._setup_done, delay)
            delay = min(delay * 2, 0.05)

    async def _ready(self, health: dict[str, Any], began: float) -> None:
        # The worker's setup lines reach coglet's log just after it turns READY.
        await _wait_event(self._setup_done, 0.2)
        self.ready_at = datetime.now(UTC)
        self.idle_since = time.monotonic()
        # coglet's own folder stays: its per-prediction folders are removed one by one.
        self._tmp_baseline = frozenset(_entries(self._tmpdir) | {"coglet"})
        self._watch_worker()
        self.state = "idle"
        logger.info("instance %s ready in %.2f s", self.id, time.monotonic() - began)

    async def _read_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            try:
                line = await process.stdout.readline()
            except ValueError:  # an over-long line was dropped by the reader
                continue
            if not line:
                self._setup_done.set()
                return
            self._output.append(line)
            if not self._setup_done.is_set():
                self._setup_output.append(line)
                if _SETUP_END.search(line) or len(self._setup_output) >= _SETUP_LINES:
                    self._setup_done.set()
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("[%s] %s", self.id, _coglet.render(line))

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        self._exited.set()
        _processes.kill_group(process.pid)  # the worker and anything the model started
        # Died or was killed after boot: clean up even if stop() never comes. While booting,
        # start() handles the exit (and may respawn on another port).
        if not self._stopping and self.state != "booting":
            if self.state not in ("failed", "stopped"):
                self._fail(f"the model process exited ({_describe_exit(code)})")
            await self._remove_files()

    async def _end_process(self) -> None:
        """Kill whatever is left of the group, wait for it, and stop our tasks and client."""
        self._unwatch_worker()
        if self._process is not None and self.pid is not None:
            _processes.kill_group(self.pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), 10.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._coglet is not None:
            await self._coglet.aclose()
            self._coglet = None

    async def _reap(self) -> None:
        """End the process, free every slot, and remove the instance's files."""
        await self._end_process()
        for run in list(self._runs.values()):
            self._release(run)
        await self._remove_files()
        self._reaped = self._process is not None

    async def _remove_files(self) -> None:
        await self._remove_finished()
        if self._tmp_fd is not None:
            os.close(self._tmp_fd)
            self._tmp_fd = None
        if self._tmpdir is not None:
            await asyncio.to_thread(shutil.rmtree, self._tmpdir, True)
        if self._pid_dir is not None:
            _processes.forget(self._pid_dir, self.id)

    def _sandboxed_command(self, python: str, env: dict[str, str]) -> tuple[list[str], str, int]:
        """bwrap's command line for the launcher (adding its settings to `env`), the Unix
        socket the platform reaches coglet through, and coglet's port inside."""
        assert self._tmpdir is not None
        # In its own network namespace coglet's ports are private: fixed numbers serve.
        shared = self._sandbox_network
        port = _processes.free_port() if shared else _SANDBOX_COGLET_PORT
        self._upload_port = _processes.free_port() if shared else _SANDBOX_UPLOAD_PORT
        env.update(
            MODELYARD_BOOTSTRAP=_processes.BOOTSTRAP,
            MODELYARD_COGLET_PORT=str(port),
            MODELYARD_INSTANCE_SOCKET=str(SANDBOX_TMP / _INSTANCE_SOCKET),
        )
        binds: tuple[tuple[Path, Path], ...] = ()
        if self.spec.upload_url and self._upload_socket is not None:
            env.update(
                MODELYARD_UPLOAD_PORT=str(self._upload_port),
                MODELYARD_UPLOAD_SOCKET=str(_SANDBOX_UPLOAD_SOCKET),
            )
            if self.spec.upload_outputs:
                env["MODELYARD_UPLOAD_URL"] = (
                    f"http://127.0.0.1:{self._upload_port}{_path_of(self.spec.upload_url)}"
                    f"{self.upload_token}/"
                )
            binds = ((self._upload_socket, _SANDBOX_UPLOAD_SOCKET),)
        # The source at /src as in Cog's images, the (relocatable) environment at /venv:
        # neither depends on where the data folder is, even under /tmp.
        argv = self._sandbox.wrap(
            [python, "-c", _LAUNCHER],
            mounts=Mounts(
                read_only=_model_paths(self.spec),
                tmp=self._tmpdir,
                gpus=self.spec.gpu_devices or (),
                binds=binds,
                placed=(
                    (self.spec.source_dir, SANDBOX_SOURCE),
                    (self.spec.venv_dir, _SANDBOX_VENV),
                ),
            ),
            cwd=SANDBOX_SOURCE,
            network=shared,
        )
        return argv, self._socket_path(), port

    def _socket_path(self) -> str:
        """The relay's socket, by a short name: a Unix socket path is limited to 107 bytes
        and data folders can be deep, so it is reached through our open handle on the folder."""
        assert self._tmpdir is not None
        if self._tmp_fd is None:
            self._tmp_fd = os.open(self._tmpdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self._tmp_fd}/{_INSTANCE_SOCKET}"

    def _reachable(self, input: Mapping[str, Any]) -> dict[str, Any]:
        """The input with the platform's signed file URLs (`/v1/deliveries/…`, what file
        inputs become) made reachable from the sandbox: it has no network, so they go through
        the relay's loopback port. Any other string is the caller's and stays as it is."""
        prefix = self._deliveries
        if not self._sandbox.enabled or self._upload_socket is None or not prefix:
            return dict(input)
        inside = f"http://127.0.0.1:{self._upload_port}{_DELIVERIES}"

        def move(value: Any) -> Any:
            if isinstance(value, str) and value.startswith(prefix):
                return inside + value[len(prefix) :]
            if isinstance(value, list):
                return [move(item) for item in value]
            return value

        return {name: move(value) for name, value in input.items()}

    def _events_url(self, prediction_id: str) -> str:
        """Where coglet POSTs a training's webhooks: the platform, through the relay when
        sandboxed; the instance's upload token authorises them."""
        assert self.spec.upload_url is not None
        path = f"{_training.EVENTS_PATH}{self.upload_token}/{prediction_id}"
        if self._sandbox.enabled and self._upload_socket is not None:
            return f"http://127.0.0.1:{self._upload_port}{path}"
        return _origin(self.spec.upload_url) + path

    def _coglet_predictions(self) -> Path:
        if self._sandbox.enabled and self._tmpdir is not None:
            return self._tmpdir / _COGLET_PREDICTIONS.relative_to(SANDBOX_TMP)
        return _COGLET_PREDICTIONS

    # -- prediction internals -----------------------------------------------------------

    def _admit(self, prediction_id: str) -> _Run:
        run = _Run(prediction_id)
        if self.spec.mode == "train":
            run.feed = _training.WebhookFeed()
        if prediction_id in self._canceled_early:
            self._canceled_early.discard(prediction_id)
            run.cancel_requested = True
        self._runs[prediction_id] = run
        self._drained.clear()
        self.idle_since = None
        if len(self._runs) >= self.spec.concurrency:
            self.state = "busy"
        return run

    def forget_cancel(self, prediction_id: str) -> None:
        """A prediction assigned here ended without running: drop its early cancel, if any."""
        self._canceled_early.discard(prediction_id)

    def _release(self, run: _Run) -> None:
        if self._runs.pop(run.id, None) is None:
            return
        run.ended.set()
        self._finished_folders.append(self._coglet_predictions() / run.id)
        if len(self._finished_folders) == 1:  # one task takes every folder queued meanwhile
            self._background(self._remove_finished())
        if not self._runs:
            self._drained.set()
            self.idle_since = time.monotonic()
            self._sweep_tmp()
        if self.state == "busy":
            self.state = "idle"

    async def _open(self, run: _Run, body: dict[str, Any]) -> httpx.Response | None:
        """PUT the prediction, absorbing 409s; None if it was canceled before it started."""
        assert self._coglet is not None
        first_conflict: float | None = None
        next_check = 0.0
        delay = 0.001
        transport_errors = 0
        while not run.cancel_requested:
            try:
                response = await self._coglet.put_prediction(
                    run.id, body, streaming=self._streaming
                )
            except _coglet.Unreachable as exc:
                transport_errors += 1
                if self._exited.is_set() or transport_errors > 2:
                    self._fail(f"coglet stopped answering ({exc})")
                    raise InstanceError(f"The model instance {self.id} is not reachable") from exc
                continue
            if response.status_code == 406 and self._streaming:
                await response.aclose()
                logger.warning(
                    "version %s has no x-cog-streaming in its schema: events arrive at the end",
                    self.spec.version_id[:12],
                )
                self._streaming = False
                continue
            if response.status_code >= 500:
                await response.aclose()
                raise InstanceError(f"The model instance answered HTTP {response.status_code}")
            if response.status_code != 409:
                return response
            await response.aclose()
            self.conflict_retries += 1
            now = time.monotonic()
            first_conflict = first_conflict or now
            if now - first_conflict > 0.1 and now >= next_check:
                next_check = now + 0.5
                await self.healthy()  # marks the instance failed if the worker crashed
                if self.state not in ("idle", "busy"):
                    raise InstanceError(
                        f"The model instance {self.id} stopped accepting predictions"
                    )
            if now - first_conflict > _CONFLICT_LIMIT:
                self._fail("coglet kept every slot busy while one of ours was free")
                raise InstanceError(f"The model instance {self.id} is stuck")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.025)
        return None

    async def _relay(
        self, run: _Run, response: httpx.Response
    ) -> AsyncGenerator[RuntimeEvent, None]:
        """coglet's events for one run; a Done is synthesized if the stream breaks first."""
        logs: list[str] = []
        outputs: list[Any] = []
        done = False
        held: Started | None = None  # `start` is yielded with the next event: it may be undone
        source = (
            run.feed.events(response, self._exited)
            if run.feed is not None
            else _coglet.events(response)
        )
        async with aclosing(source) as events:
            async for event in events:
                if isinstance(event, WorkerCrashed):
                    self._fail(event.reason)
                    if event.undelivered and held is not None:
                        run.started = False  # nothing of it ran: the caller may run it elsewhere
                        raise Undelivered(f"The model instance {self.id} had lost its worker")
                    continue
                if isinstance(event, Started):
                    run.started = True
                    if run.cancel_requested:
                        self._background(self._post_cancel(run.id))
                    held = event
                    continue
                if held is not None:
                    yield held
                    held = None
                if isinstance(event, Log):
                    logs.append(event.text)
                elif isinstance(event, Output):
                    outputs.append(event.value)
                elif isinstance(event, Done):
                    if done:
                        continue
                    done = True
                yield event
        if not done and held is None and not run.started and not run.cancel_requested:
            # The stream broke before coglet said `start`: nothing of it ran.
            await self._lost(run, "", [])
            raise Undelivered(f"The model instance {self.id} broke before it took {run.id}")
        if held is not None:
            yield held
        if not done:
            yield await self._lost(run, "".join(logs), outputs)

    async def _lost(self, run: _Run, logs: str, outputs: list[Any]) -> Done:
        """The stream ended without `completed`: coglet died or was killed."""
        await _wait_event(self._exited, 0.5)
        partial = outputs or None
        if run.killed:
            return Done(status="canceled", output=partial, logs=logs)
        if self._stopping:
            return Done(status="failed", output=partial, error=STOPPED, logs=logs)
        if self._exited.is_set():
            reason = f"the model process exited ({_describe_exit(self._returncode())})"
        else:
            reason = "the connection to the model process was lost"
        self._fail(reason)
        return Done(status="failed", output=partial, error=CRASHED.format(reason=reason), logs=logs)

    async def _enforce_cancel(self, run: _Run) -> None:
        deadline = time.monotonic() + self._cancel_grace
        delay = 0.01
        while not run.ended.is_set() and not self._exited.is_set():
            if run.started and await self._post_cancel(run.id) == 404:
                return  # coglet has finished it; the stream carries the outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                run.killed = True
                logger.warning(
                    "instance %s: prediction %s ignored its cancel for %.1f s, killing",
                    self.id,
                    run.id,
                    self._cancel_grace,
                )
                self.kill(f"killed because prediction {run.id} ignored its cancel")
                return
            await _wait_event(run.ended, min(delay, remaining))
            delay = min(delay * 2, 0.25)

    async def _abandon(self, run: _Run) -> None:
        run.cancel_requested = True
        try:
            await self._enforce_cancel(run)
        finally:
            self._release(run)

    async def _post_cancel(self, prediction_id: str) -> int | None:
        return None if self._coglet is None else await self._coglet.cancel(prediction_id)

    # -- helpers ------------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        if self.state in ("failed", "stopped"):
            return
        self.state = "failed"
        self.failure = reason
        logger.warning("instance %s failed: %s", self.id, reason)
        if self.on_failure is not None:
            self.on_failure()

    def _watch_worker(self) -> None:
        """Fail the moment coglet's worker exits: coglet would still accept predictions."""
        worker = _find_worker(self.pid) if self.pid is not None else None
        if worker is None:
            logger.warning("instance %s: coglet's worker process not found", self.id)
            return
        try:
            fd = os.pidfd_open(worker)
        except ProcessLookupError:
            self._fail(_WORKER_DIED)
            return
        except OSError:  # no pidfd on this kernel: the health checks notice it instead
            return
        loop = asyncio.get_running_loop()
        self._worker_fd = fd
        loop.add_reader(fd, self._worker_exited)

    def _worker_exited(self) -> None:
        self._unwatch_worker()
        if not self._stopping:
            self._fail(_WORKER_DIED)
            if self._runs:
                self._background(self._end_orphaned_runs())

    async def _end_orphaned_runs(self) -> None:
        """The worker died with predictions in flight. coglet usually reports them; one sent
        at the moment of the death can be left waiting on coglet forever. After a moment the
        process group is killed, so every such stream breaks and its prediction ends (or, when
        it never reached the model, runs elsewhere)."""
        await _wait_event(self._drained, _ORPHAN_GRACE)  # set once the last run is released
        if self._runs and not self._exited.is_set():
            logger.warning(
                "instance %s: %d prediction(s) still waiting on a dead worker, killing",
                self.id,
                len(self._runs),
            )
            self.kill(_WORKER_DIED)

    def _unwatch_worker(self) -> None:
        fd, self._worker_fd = self._worker_fd, None
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    async def _remove_finished(self) -> None:
        """Remove coglet's folders of finished runs in a thread, after the response: an rmdir
        took over a millisecond of the event loop per prediction under load."""
        await asyncio.sleep(0)
        folders, self._finished_folders = self._finished_folders, []
        if folders:
            await asyncio.to_thread(_remove_all, folders)

    def _sweep_tmp(self) -> None:
        """Remove what finished predictions left in TMPDIR (the model's outputs, once uploaded);
        what existed when the instance became ready stays."""
        if self._tmpdir is None or self.state not in ("idle", "busy"):
            return
        stale = [self._tmpdir / name for name in _entries(self._tmpdir) - self._tmp_baseline]
        if stale:
            self._background(asyncio.to_thread(_remove_all, stale))

    def _background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    def _output_tail(self, lines: int = 40) -> str:
        return "\n".join(_coglet.render(line) for line in list(self._output)[-lines:])

    @staticmethod
    def _with_tail(message: str, tail: str) -> str:
        return f"{message}\n\nLast output of the model process:\n{tail}" if tail else message


class _PortTaken(Exception):
    """coglet lost the race for the port we picked; spawn again on another."""


def _environment(
    spec: InstanceSpec, tmpdir: Path, *, venv: Path, sandboxed: bool
) -> dict[str, str]:
    if sandboxed:  # nothing of the platform's environment; the sandbox's own /tmp and HOME
        env = clean_environment({k: v for k, v in os.environ.items() if k.startswith("LC_")})
        system_path, tmp = env["PATH"], str(SANDBOX_TMP)
    else:
        env = {k: v for k, v in os.environ.items() if k in _INHERITED or k.startswith("LC_")}
        system_path, tmp = os.environ.get("PATH", os.defpath), str(tmpdir)
    env.update(spec.environment)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{system_path}",
        VIRTUAL_ENV=str(venv),
        PYTHONUNBUFFERED="1",
        PYTHONNOUSERSITE="1",
        TMPDIR=tmp,
        COG_MAX_CONCURRENCY=str(spec.concurrency),
        CUDA_VISIBLE_DEVICES=",".join(str(d) for d in spec.gpu_devices or ()),
    )
    if spec.mode == "train":
        env.update(COG_TRAIN_TYPE_STUB=spec.predict_ref, MODELYARD_COGLET_MODE="train")
        # A training's logs come by webhook; coglet's 0.5 s throttle drops a line that follows
        # another within it, with no trailing send, so a step's line would wait for the next.
        env["COG_THROTTLE_RESPONSE_INTERVAL"] = "0"
    else:
        env["COG_PREDICT_TYPE_STUB"] = spec.predict_ref
    if spec.setup_timeout is not None:  # coglet ignores fractions ("0.5" means no timeout)
        env["COG_SETUP_TIMEOUT"] = str(max(1, math.ceil(spec.setup_timeout)))
    env.update(spec.extra_env)
    return env


def _model_paths(spec: InstanceSpec) -> tuple[Path, ...]:
    """The environment's interpreter and shared packages, and local weights (read-only).

    Only COG_WEIGHTS names a host path to give: the platform checked it at push (inside
    `weights_dirs`); no other variable of the model's choosing becomes a mount."""
    paths = list(environment_paths(spec.venv_dir))
    weights = spec.extra_env.get("COG_WEIGHTS") or spec.environment.get("COG_WEIGHTS", "")
    if weights.startswith("/") and Path(weights).exists():
        paths.append(Path(weights))
    return tuple(paths)


def _path_of(url: str) -> str:
    return urlsplit(url).path or "/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _find_worker(pid: int) -> int | None:
    """coglet's worker among the descendants of `pid` (a sandbox may sit in between)."""
    pending, seen = [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError):
            if _WORKER_MARKER in Path(f"/proc/{current}/cmdline").read_bytes():
                return current
        pending += _processes.children(current)
    return None


def _entries(directory: Path | None) -> set[str]:
    try:
        return set(os.listdir(directory)) if directory is not None else set()
    except OSError:
        return set()


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    if event.is_set():
        return True
    if timeout <= 0:
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    return event.is_set()
