"""Instances against real coglet 0.23.1 processes (about 1 s of boot per test)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.core.errors import InstanceError
from modelyard.runtime import _processes
from modelyard.runtime.instance import (
    CRASHED,
    Done,
    Instance,
    Log,
    Metric,
    Output,
    RuntimeEvent,
    Started,
    Undelivered,
)

from .conftest import InstanceFactory, ModelFactory

STRING_MODEL = """
import json, os, sys, tempfile
from cog import BaseRunner, current_scope

class Predictor(BaseRunner):
    def setup(self):
        print("setup done")

    def run(self, text: str) -> str:
        print("hello log")
        print("to stderr", file=sys.stderr)
        current_scope().record_metric("chars", len(text))
        if text == "tmp":
            return tempfile.gettempdir()
        if text == "env":
            names = ["CUDA_VISIBLE_DEVICES", "FROM_COG_YAML", "COG_WEIGHTS", "MODELYARD_SECRET"]
            return json.dumps({name: os.environ.get(name) for name in names})
        return "hello " + text
"""
STRING_INPUTS = {"text": {"type": "string", "title": "Text", "x-order": 0}}

FILE_MODEL = """
import os, tempfile
from cog import BaseRunner

class Predictor(BaseRunner):
    def setup(self):
        open(os.path.join(tempfile.gettempdir(), "kept-from-setup"), "w").write("weights")

    def run(self, text: str) -> str:
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "out.txt"), "w") as fh:
            fh.write(text)
        tempfile.mkstemp()
        return folder
"""

SLEEPY_MODEL = """
import ctypes, time
from cog import BaseRunner

class Predictor(BaseRunner):
    def run(self, seconds: float, blocking: bool = False) -> str:
        print("sleeping")
        if blocking:
            ctypes.CDLL(None).sleep(int(seconds))  # a C call: Python cannot interrupt it
        else:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(0.05)
        return "awake"
"""
SLEEPY_INPUTS = {"seconds": {"type": "number"}, "blocking": {"type": "boolean", "default": False}}


async def collect(
    instance: Instance, prediction_id: str, payload: dict[str, Any]
) -> list[tuple[float, RuntimeEvent]]:
    return [(time.monotonic(), e) async for e in instance.predict(prediction_id, payload)]


def events_only(timed: list[tuple[float, RuntimeEvent]]) -> list[RuntimeEvent]:
    return [event for _, event in timed]


async def until_started(
    instance: Instance, prediction_id: str, payload: dict[str, Any], until: type = Started
):
    """Start a prediction in a task; return the task once an `until` event arrived."""
    started = asyncio.Event()

    async def consume() -> list[RuntimeEvent]:
        seen = []
        async for event in instance.predict(prediction_id, payload):
            seen.append(event)
            if isinstance(event, until):
                started.set()
        return seen

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    return task


def group_gone(pgid: int) -> bool:
    return not _processes.group_members(pgid)


async def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def wait_for_async(check, *, expect: bool, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check() is expect:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_string_model_yields_events_then_done(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    model = make_model(STRING_MODEL, inputs=STRING_INPUTS, required=["text"])
    instance = await start_instance(model)
    assert instance.state == "idle" and instance.free_slots == 1
    assert "setup done" in instance.setup_logs

    events = events_only(await collect(instance, "p1", {"text": "world"}))

    assert isinstance(events[0], Started)
    assert Log("hello log\n") in events and Log("to stderr\n") in events
    assert Metric("chars", 5, "replace") in events
    assert Output("hello world", 0) in events
    done = events[-1]
    assert isinstance(done, Done) and done.status == "succeeded"
    assert done.output == "hello world" and done.error is None
    assert done.logs == "hello log\nto stderr\n"
    assert done.metrics["chars"] == 5 and done.metrics["predict_time"] > 0
    assert [e for e in events if isinstance(e, Done)] == [done]
    assert instance.in_flight == 0 and instance.state == "idle"


async def test_input_rejected_by_the_schema_fails_without_starting(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    instance = await start_instance(
        make_model(STRING_MODEL, inputs=STRING_INPUTS, required=["text"])
    )

    events = events_only(await collect(instance, "bad", {}))

    assert len(events) == 1
    assert events[0].status == "failed" and "text: Field required" in events[0].error
    assert instance.state == "idle"


async def test_iterator_output_streams_before_the_model_finishes(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    model = make_model(
        """
        import time
        from typing import Iterator

        def run(n: int = 3) -> Iterator[str]:
            for i in range(n):
                yield f"t{i} "
                time.sleep(0.3)
        """,
        output={"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"},
        inputs={"n": {"type": "integer", "default": 3}},
    )
    instance = await start_instance(model, "predict.py:run")

    timed = await collect(instance, "it1", {"n": 3})

    outputs = [(t, e) for t, e in timed if isinstance(e, Output)]
    done_at, done = timed[-1]
    assert [e.value for _, e in outputs] == ["t0 ", "t1 ", "t2 "]
    assert [e.index for _, e in outputs] == [0, 1, 2]
    assert outputs[0][0] < done_at - 0.6, "the first token must arrive while the model runs"
    assert isinstance(done, Done) and done.output == ["t0 ", "t1 ", "t2 "]


async def test_failing_model_reports_its_error_and_logs(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    model = make_model(
        """
        def run(text: str) -> str:
            print("about to fail")
            raise ValueError("bad things happened")
        """,
        inputs=STRING_INPUTS,
    )
    instance = await start_instance(model, "predict.py:run")

    events = events_only(await collect(instance, "f1", {"text": "x"}))

    done = events[-1]
    assert isinstance(done, Done) and done.status == "failed"
    assert "ValueError: bad things happened" in done.error
    assert done.logs == "about to fail\n" and Log("about to fail\n") in events
    assert await instance.healthy() is True  # a Python exception leaves the worker fine
    again = events_only(await collect(instance, "f2", {"text": "x"}))
    assert again[-1].status == "failed" and instance.state == "idle"


async def test_cancel_and_abandon_a_running_python_loop(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    instance = await start_instance(make_model(SLEEPY_MODEL, inputs=SLEEPY_INPUTS))

    task = await until_started(instance, "c1", {"seconds": 30})
    began = time.monotonic()
    await instance.cancel("c1")
    events = await asyncio.wait_for(task, 5)
    assert time.monotonic() - began < 2
    assert events[-1].status == "canceled" and events[-1].logs == "sleeping\n"

    # Abandoning the iterator cancels too, and holds the slot until coglet lets it go.
    stream = instance.predict("c2", {"seconds": 30})
    assert isinstance(await anext(stream), Started)
    await stream.aclose()
    assert instance.in_flight == 1
    assert await wait_for(lambda: instance.in_flight == 0, 5)

    events = events_only(await collect(instance, "c3", {"seconds": 0}))
    assert events[-1].status == "succeeded" and instance.state == "idle"


async def test_cancel_stuck_in_a_c_call_kills_the_instance(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    instance = await start_instance(
        make_model(SLEEPY_MODEL, inputs=SLEEPY_INPUTS), cancel_grace=0.5
    )
    pgid = instance.pid

    task = await until_started(instance, "k1", {"seconds": 60, "blocking": True})
    began = time.monotonic()
    await instance.cancel("k1")
    events = await asyncio.wait_for(task, 5)

    assert time.monotonic() - began < 3
    assert events[-1].status == "canceled"
    assert instance.state == "failed" and not instance.alive and instance.free_slots == 0
    assert await wait_for(lambda: group_gone(pgid))


async def test_worker_killed_mid_prediction_fails_it_as_a_crash(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    instance = await start_instance(make_model(SLEEPY_MODEL, inputs=SLEEPY_INPUTS))
    task = await until_started(instance, "w1", {"seconds": 30}, until=Log)
    (worker,) = _processes.children(instance.pid)

    os.kill(worker, signal.SIGKILL)
    events = await asyncio.wait_for(task, 5)

    done = events[-1]
    assert done.status == "failed" and done.logs == "sleeping\n"
    assert done.error == CRASHED.format(reason="the model worker crashed")
    assert instance.state == "failed"
    assert await instance.healthy() is False


async def test_a_prediction_coglet_never_ends_after_its_worker_died_is_ended(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    """coglet can leave a prediction sent as its worker died waiting forever (here: coglet is
    stopped, so it can never answer); the instance kills its processes and the run ends."""
    instance = await start_instance(make_model(SLEEPY_MODEL, inputs=SLEEPY_INPUTS))
    task = await until_started(instance, "o1", {"seconds": 30}, until=Log)
    (worker,) = _processes.children(instance.pid)
    assert instance.pid is not None
    os.kill(instance.pid, signal.SIGSTOP)
    try:
        os.kill(worker, signal.SIGKILL)
        events = await asyncio.wait_for(task, 10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(instance.pid, signal.SIGCONT)
    assert events[-1].status == "failed" and "crashed" in (events[-1].error or "")
    assert instance.state == "failed"


async def test_worker_killed_while_idle_is_noticed_without_a_health_check(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    instance = await start_instance(make_model(STRING_MODEL, inputs=STRING_INPUTS))
    (worker,) = _processes.children(instance.pid)

    os.kill(worker, signal.SIGKILL)

    assert await wait_for(lambda: instance.state == "failed", timeout=1.0)
    assert "crashed" in instance.failure and instance.free_slots == 0
    assert await instance.healthy() is False
    with pytest.raises(InstanceError):  # nothing is sent to it
        await anext(instance.predict("after", {"text": "x"}))


async def test_prediction_that_never_reached_a_dead_worker_is_undelivered(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    for attempt in range(3):
        instance = await start_instance(make_model(STRING_MODEL, inputs=STRING_INPUTS))
        instance._unwatch_worker()  # as where pidfds are missing: coglet is told first
        (worker,) = _processes.children(instance.pid)
        os.kill(worker, signal.SIGKILL)
        await asyncio.sleep(0.2)

        seen: list[RuntimeEvent] = []
        with pytest.raises(Undelivered):  # raised before any event: it may run elsewhere
            async for event in instance.predict(f"late{attempt}", {"text": "x"}):
                seen.append(event)
        assert seen == []
        assert instance.state == "failed" and instance.in_flight == 0


async def test_files_a_prediction_leaves_in_tmpdir_are_removed(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    instance = await start_instance(make_model(FILE_MODEL, inputs=STRING_INPUTS))
    assert instance.tmpdir is not None
    before = sorted(os.listdir(instance.tmpdir))
    assert "kept-from-setup" in before

    for n in range(5):
        events = events_only(await collect(instance, f"file{n}", {"text": "x" * n}))
        assert events[-1].status == "succeeded"
        assert await wait_for(lambda: sorted(os.listdir(instance.tmpdir)) == before)


async def test_setup_failure_raises_with_the_setup_error(
    make_model: ModelFactory, start_instance: InstanceFactory, tmp_path: Path
) -> None:
    model = make_model(
        """
        from cog import BaseRunner

        class Predictor(BaseRunner):
            def setup(self):
                raise RuntimeError("weights file missing")

            def run(self) -> str:
                return "never"
        """
    )
    with pytest.raises(InstanceError) as caught:
        await start_instance(model)

    assert "Model setup failed" in caught.value.detail
    assert "RuntimeError: weights file missing" in caught.value.detail
    assert not list(tmp_path.glob("modelyard-*")), "the instance TMPDIR is removed"
    assert not list((tmp_path / "pids").glob("*.json"))


async def test_async_model_with_concurrency_four_runs_four_at_once(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    model = make_model(
        """
        import asyncio, time
        from cog import BaseRunner

        class Predictor(BaseRunner):
            async def run(self, delay: float) -> str:
                began = time.monotonic()
                await asyncio.sleep(delay)
                return f"{began},{time.monotonic()}"
        """,
        inputs={"delay": {"type": "number"}},
    )
    instance = await start_instance(model, concurrency=4)

    runs = [collect(instance, f"a{i}", {"delay": 0.5}) for i in range(4)]
    gathered = asyncio.gather(*runs)
    await asyncio.sleep(0.1)
    assert instance.state == "busy" and instance.free_slots == 0
    results = await gathered

    spans = [tuple(map(float, events_only(r)[-1].output.split(","))) for r in results]
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    assert instance.state == "idle" and instance.free_slots == 4


async def test_back_to_back_predictions_never_surface_a_409(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    instance = await start_instance(make_model(STRING_MODEL, inputs=STRING_INPUTS))
    await collect(instance, "warm", {"text": "x"})  # coglet's first prediction is slower

    durations = []
    for i in range(50):
        began = time.monotonic()
        events = events_only(await collect(instance, f"seq{i}", {"text": str(i)}))
        durations.append(time.monotonic() - began)
        assert events[-1].output == f"hello {i}"

    # Without TCP_QUICKACK every streamed prediction waits 40 ms for a delayed ACK.
    assert statistics.median(durations) < 0.03


async def test_stop_leaves_no_process_and_removes_tmpdir(
    make_model: ModelFactory, start_instance: InstanceFactory, tmp_path: Path
) -> None:
    instance = await start_instance(make_model(STRING_MODEL, inputs=STRING_INPUTS))
    events = events_only(await collect(instance, "tmp", {"text": "tmp"}))
    assert events[-1].output == str(instance.tmpdir), "the model sees a private TMPDIR"
    # coglet's folder of the run goes in the background, just after the run ends.
    assert await wait_for(lambda: not Path("/tmp/coglet/predictions/tmp").exists())
    assert (tmp_path / "pids" / f"{instance.id}.json").exists()
    pgid, worker = instance.pid, _processes.children(instance.pid)[0]

    await instance.stop()

    assert instance.state == "stopped"
    assert group_gone(pgid) and _processes.start_time(worker) is None
    assert not instance.tmpdir.exists()
    assert not (tmp_path / "pids" / f"{instance.id}.json").exists()
    await instance.stop()  # idempotent


async def test_the_model_sees_its_own_environment_only(
    make_model: ModelFactory, start_instance: InstanceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_SECRET", "platform database password")
    instance = await start_instance(
        make_model(STRING_MODEL, inputs=STRING_INPUTS),
        environment={"FROM_COG_YAML": "yes"},
        extra_env={"COG_WEIGHTS": "https://example.com/w.tar"},
    )

    events = events_only(await collect(instance, "env", {"text": "env"}))

    assert json.loads(events[-1].output) == {
        "CUDA_VISIBLE_DEVICES": "",  # a CPU instance sees no GPU
        "FROM_COG_YAML": "yes",
        "COG_WEIGHTS": "https://example.com/w.tar",
        "MODELYARD_SECRET": None,
    }


@pytest.fixture
def upload_server() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["X-Prediction-ID"], body))
            self.send_response(201)
            self.send_header("Location", f"https://files.test{self.path}?signature=x")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/upload/", received
    server.shutdown()
    server.server_close()


async def test_path_outputs_go_to_the_upload_url(
    make_model: ModelFactory, start_instance: InstanceFactory, upload_server
) -> None:
    upload_url, received = upload_server
    model = make_model(
        """
        import tempfile
        from pathlib import Path
        from cog import Path as CogPath

        def run() -> CogPath:
            path = Path(tempfile.mkdtemp()) / "out.txt"
            path.write_text("file body")
            return CogPath(path)
        """,
        output={"type": "string", "format": "uri"},
    )
    instance = await start_instance(model, "predict.py:run", upload_url=upload_url)

    events = events_only(await collect(instance, "up1", {}))

    # Each instance uploads under a token of its own (the platform checks it).
    path = f"/upload/{instance.upload_token}/out.txt"
    assert received == [(path, "up1", b"file body")]
    assert Output(f"https://files.test{path}", 0) in events
    assert events[-1].output == f"https://files.test{path}"


async def test_a_cancel_before_the_prediction_is_admitted_is_kept(
    make_model: ModelFactory, start_instance: InstanceFactory
) -> None:
    """The runtime may cancel a prediction it assigned here before the instance has it."""
    instance = await start_instance(make_model(SLEEPY_MODEL, inputs=SLEEPY_INPUTS))
    await instance.cancel("early")
    began = time.monotonic()
    events = events_only(await collect(instance, "early", {"seconds": 30}))
    assert time.monotonic() - began < 5
    assert [type(e) for e in events] == [Done] and events[-1].status == "canceled"
    events = events_only(await collect(instance, "later", {"seconds": 0}))
    assert events[-1].status == "succeeded"
    instance.forget_cancel("never-came")  # a prediction that ended before it ran here
    await instance.cancel("never-came")
    instance.forget_cancel("never-came")
    events = events_only(await collect(instance, "never-came", {"seconds": 0}))
    assert events[-1].status == "succeeded"
