from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from modelyard.runtime import _processes
from modelyard.runtime._processes import ProcessRecord, kill_orphans

# A stand-in for coglet and its worker: a group leader whose command line names
# cog.server.http, with a child in the same process group.
FAKE_COGLET = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "time.sleep(60)\n"
)


def write_record(pid_dir: Path, name: str, pid: int, owner_pid: int) -> Path:
    pid_dir.mkdir(parents=True, exist_ok=True)
    entry = ProcessRecord(
        instance_id=name,
        version_id="v",
        pid=pid,
        pgid=pid,
        start_time=_processes.start_time(pid),
        owner_pid=owner_pid,
        owner_start_time=_processes.start_time(owner_pid),
    )
    path = pid_dir / f"{name}.json"
    path.write_text(json.dumps(asdict(entry)))
    return path


def wait_gone(pgid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _processes.group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _processes.group_members(pgid)


@pytest.fixture
def spawned():
    processes: list[subprocess.Popen] = []

    def spawn(argv: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(argv, start_new_session=True)
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        _processes.kill_group(process.pid)
        process.wait()


def finished_owner() -> int:
    owner = subprocess.Popen(["true"])
    owner.wait()
    return owner.pid


def test_kill_orphans_kills_groups_left_by_a_dead_platform(tmp_path: Path, spawned) -> None:
    orphan = spawned([sys.executable, "-c", FAKE_COGLET, "cog.server.http"])
    deadline = time.monotonic() + 5
    while len(_processes.group_members(orphan.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    record = write_record(tmp_path, "inst-old", orphan.pid, owner_pid=finished_owner())

    assert kill_orphans(tmp_path) == 1

    assert orphan.wait(timeout=5) == -signal.SIGKILL
    assert wait_gone(orphan.pid)
    assert not record.exists()


def test_kill_orphans_spares_live_owners_and_strangers(tmp_path: Path, spawned) -> None:
    mine = spawned([sys.executable, "-c", FAKE_COGLET, "cog.server.http"])
    stranger = spawned(["sleep", "60"])
    kept = write_record(tmp_path, "inst-live", mine.pid, owner_pid=os.getpid())
    write_record(tmp_path, "inst-stranger", stranger.pid, owner_pid=finished_owner())
    write_record(tmp_path, "inst-gone", finished_owner(), owner_pid=finished_owner())
    (tmp_path / "garbage.json").write_text("{not json")

    assert kill_orphans(tmp_path) == 0

    assert mine.poll() is None and stranger.poll() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]
    assert kill_orphans(tmp_path / "missing") == 0


def test_coglet_dies_with_the_platform_process(runtime_venv: Path, make_model, tmp_path) -> None:
    """PR_SET_PDEATHSIG: SIGKILL the process that owns an instance and coglet follows."""
    from .test_instance import STRING_INPUTS, STRING_MODEL

    model = make_model(STRING_MODEL, inputs=STRING_INPUTS)
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from modelyard.runtime.instance import Instance, InstanceSpec

        async def main():
            spec = InstanceSpec("v", Path({str(model)!r}), Path({str(runtime_venv)!r}),
                                "predict.py:Predictor")
            instance = Instance(spec, tmp_root=Path({str(tmp_path)!r}))
            await instance.start()
            print(instance.pid, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as platform:
        try:
            coglet_pid = int(platform.stdout.readline())
            assert _processes.group_members(coglet_pid)
        finally:
            platform.kill()
    assert wait_gone(coglet_pid)
