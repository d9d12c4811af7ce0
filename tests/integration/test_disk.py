"""Disk hygiene: file outputs leave no temp files or descriptors behind; a full disk fails only
the prediction whose output did not fit."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import Server

PREDICTIONS = 1000
# Descriptors the platform may hold beyond the warmed-up count: keep-alive connections from
# the client threads and to the instance, and the database's WAL handles, which come and go.
FD_SLACK = 8
COGLET_TMP = Path("/tmp/coglet/predictions")


def run(http: httpx.Client, kilobytes: int) -> dict:
    r = http.post(
        "/v1/models/admin/bigfile/predictions",
        json={"input": {"kilobytes": kilobytes}},
        headers={"Prefer": "wait=60"},
    )
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def temp_entries(srv: Server) -> set[str]:
    """Everything under the instances' temp root, and coglet's shared folder outside a sandbox."""
    root = srv.data_dir / "tmp"
    found = {str(p.relative_to(root)) for p in root.rglob("*")}
    if COGLET_TMP.is_dir():
        found |= {f"coglet/{name}" for name in os.listdir(COGLET_TMP)}
    return found


def test_a_thousand_file_outputs_leave_no_temp_files_or_descriptors(
    server_factory: Callable[..., Server],
) -> None:
    # A thousand creates in a couple of minutes: past the default 600/min of one token.
    srv = server_factory(
        MODELYARD_RATE_LIMIT_CREATE="100000/min", MODELYARD_RATE_LIMIT_OTHER="100000/min"
    ).start()
    srv.push("bigfile", "admin/bigfile")
    assert srv.process is not None
    pid = srv.process.pid
    with srv.http() as http:
        for _ in range(20):  # warm up: an instance, pooled connections, the database
            assert run(http, 4)["status"] == "succeeded"
        time.sleep(0.5)
        fds_before, temp_before = open_fds(pid), temp_entries(srv)

        def one(_: int) -> str:
            with srv.http() as client:
                return str(run(client, 4)["status"])

        began = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(one, range(PREDICTIONS)))
        took = time.monotonic() - began
        assert statuses.count("succeeded") == PREDICTIONS, set(statuses)
        time.sleep(0.5)  # the last prediction's folder is removed just after it ends
        fds_after, temp_after = open_fds(pid), temp_entries(srv)
    print(f"{PREDICTIONS} file outputs in {took:.1f} s; fds {fds_before} -> {fds_after}")
    assert temp_after == temp_before, sorted(temp_after - temp_before)[:10]
    assert fds_after <= fds_before + FD_SLACK, (fds_before, fds_after)
    outputs = list((srv.data_dir / "files" / "predictions").iterdir())
    assert len(outputs) == PREDICTIONS + 20  # the outputs themselves are stored, once each


@pytest.fixture
def small_files_volume(tmp_path: Path) -> Iterator[Path]:
    """A data dir whose file storage is a 2 MiB tmpfs (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    data_dir = tmp_path / "data"
    files = data_dir / "files"
    files.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(files)], check=True)
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(files)], check=True)


def test_full_disk_fails_that_prediction_and_the_platform_keeps_serving(
    small_files_volume: Path, shared_envs_dir: Path
) -> None:
    srv = Server(data_dir=small_files_volume, envs_dir=shared_envs_dir).start()
    try:
        srv.push("bigfile", "admin/bigfile")
        with srv.http() as http:
            assert run(http, 16)["status"] == "succeeded"
            too_big = run(http, 3 * 1024)
            assert too_big["status"] == "failed", too_big
            assert "no space left to store the output" in too_big["error"].lower()
            assert too_big["output"] is None
            leftovers = [p.name for p in (small_files_volume / "files").rglob(".upload-*")]
            assert not leftovers, "a refused write leaves nothing half-written"
            for _ in range(3):  # the platform keeps serving
                ok = run(http, 16)
                assert ok["status"] == "succeeded", ok
                assert httpx.get(ok["output"], timeout=30).status_code == 200
    finally:
        srv.stop()
