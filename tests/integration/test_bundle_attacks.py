"""Hostile version bundles, pushed as an attacker with an ordinary token would (issue 9).

mallory plants bytecode the version id does not cover, then bob pushes the honest bundle
with the same id; bombs, oversize bundles and bundles of too many files are refused while
unpacking, with nothing left behind. The server runs with small bundle limits so that the
tests stay quick: 96 MiB unpacked and 60 files.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import marshal
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from modelyard.builder import bundle_digest
from tests.integration.harness import Server
from tests.integration.test_isolation import client, distinct_model, token_for

MiB = 1 << 20
MAX_UNPACKED = 96 * MiB
MAX_FILES = 60
SOURCE_MTIME = 1_700_000_000  # the predict.py mtime the poisoned .pyc claims to match
EVIL_SOURCE = textwrap.dedent(
    """
    from cog import BaseRunner, Input

    POISONED = True


    class Runner(BaseRunner):
        def run(self, text: str = Input(description="Text to echo")) -> str:
            print(f"STOLEN:{text}")
            return "pwned"
    """
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> dict:  # type: ignore[type-arg]
    tmp = tmp_path_factory.mktemp("bundles")
    srv = Server(
        data_dir=tmp / "data",
        envs_dir=shared_envs_dir,
        settings={
            "MODELYARD_MAX_BUNDLE_UNPACKED_BYTES": str(MAX_UNPACKED),
            "MODELYARD_MAX_BUNDLE_FILES": str(MAX_FILES),
        },
    ).start()
    try:
        for user in ("mallory", "bob"):
            result = srv.cli("users", "create", user)
            assert result.returncode == 0, result.stdout + result.stderr
        tokens = {user: token_for(srv, user) for user in ("mallory", "bob")}
        honest = distinct_model(tmp, "victim")
        yield {"server": srv, "tokens": tokens, "honest": honest, "tmp": tmp}
    finally:
        srv.stop()


def poisoned_pyc(honest_predict: bytes) -> bytes:
    """Bytecode of EVIL_SOURCE that Python accepts as the cache of the honest predict.py."""
    code = compile(EVIL_SOURCE, "predict.py", "exec")
    header = (
        importlib.util.MAGIC_NUMBER
        + (0).to_bytes(4, "little")  # flags: a timestamp-checked .pyc
        + SOURCE_MTIME.to_bytes(4, "little")
        + len(honest_predict).to_bytes(4, "little")
    )
    return header + marshal.dumps(code)


def poisoned_bundle(honest: Path) -> bytes:
    """The honest directory, plus a __pycache__ entry the version id skips."""
    predict = (honest / "predict.py").read_bytes()
    cached = Path(importlib.util.cache_from_source("predict.py")).as_posix()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(honest.iterdir()):
            info = tarfile.TarInfo(path.name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, SOURCE_MTIME
            tar.addfile(info, io.BytesIO(path.read_bytes()))
        folder = tarfile.TarInfo("__pycache__")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        pyc = poisoned_pyc(predict)
        info = tarfile.TarInfo(cached)
        info.size, info.mode, info.mtime = len(pyc), 0o644, SOURCE_MTIME
        tar.addfile(info, io.BytesIO(pyc))
    return buffer.getvalue()


def test_the_poison_is_live_python_loads_it(world: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    """The attack's .pyc is valid: next to the honest predict.py, Python runs it."""
    scratch = tmp_path / "scratch"
    with tarfile.open(fileobj=io.BytesIO(poisoned_bundle(world["honest"]))) as tar:
        tar.extractall(scratch, filter="data")
    assert os.stat(scratch / "predict.py").st_mtime == SOURCE_MTIME
    probe = (
        "import sys, types; "
        "sys.modules['cog'] = types.SimpleNamespace(BaseRunner=object, Input=lambda **k: None); "
        "import predict; print(getattr(predict, 'POISONED', False))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=scratch, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "True", result.stderr


def test_poisoned_pycache_never_reaches_another_account(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    honest: Path = world["honest"]
    mallory = client(srv, world["tokens"]["mallory"])
    bob = client(srv, world["tokens"]["bob"])
    digest = bundle_digest(honest)
    # mallory pushes the honest files plus the poisoned bytecode, through the API.
    created = mallory.post("/v1/models", json={"owner": "mallory", "name": "trap"})
    assert created.status_code == 201, created.text
    pushed = mallory.post(
        "/v1/models/mallory/trap/versions",
        content=poisoned_bundle(honest),
        headers={"Content-Type": "application/gzip"},
        timeout=900,
    )
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["id"] == digest  # the .pyc is not part of the version id
    assert pushed.json()["python_version"].startswith(
        f"{sys.version_info.major}.{sys.version_info.minor}"
    )  # so the magic number of the poisoned .pyc is the version's own
    evil = poisoned_pyc((honest / "predict.py").read_bytes())
    data: Path = srv.data_dir
    assert not [p for p in data.rglob("*.pyc") if p.read_bytes() == evil]
    # bob pushes the honest directory with the CLI: the same version id.
    assert srv.push(honest, "bob/victim", "--token", world["tokens"]["bob"]) == digest
    folders = sorted(data.glob(f"versions/*/{digest}"))
    assert len(folders) == 2, folders  # one folder per owning account
    # bob's prediction runs bob's code and its input is seen by no one else's.
    ran = predict(bob, "bob/victim", "bob's secret")
    assert ran["output"] == "bob's secret"
    assert "STOLEN" not in (ran["logs"] or "") and "echoing 12 characters" in ran["logs"]
    # mallory's own model runs the honest code too: the bytecode was never written.
    ran = predict(mallory, "mallory/trap", "mine")
    assert ran["output"] == "mine" and "STOLEN" not in (ran["logs"] or "")
    assert not [p for p in data.rglob("*.pyc") if p.read_bytes() == evil]


def test_same_account_repush_reuses_its_version_and_folder(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    honest: Path = world["honest"]
    token = world["tokens"]["bob"]
    bob = client(srv, token)
    digest = srv.push(honest, "bob/victim", "--token", token)
    folders = sorted(srv.data_dir.glob(f"versions/*/{digest}"))
    result = srv.cli("push", str(honest), "bob/victim", "--token", token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"bob/victim:{digest}" in result.stdout
    listed = bob.get("/v1/models/bob/victim/versions").json()["results"]
    assert [v["id"] for v in listed] == [digest]
    # Another model of the same account shares the folder; deleting its version keeps it.
    assert srv.push(honest, "bob/victim-copy", "--token", token) == digest
    assert sorted(srv.data_dir.glob(f"versions/*/{digest}")) == folders
    deleted = bob.delete(f"/v1/models/bob/victim-copy/versions/{digest}")
    assert deleted.status_code == 202, deleted.text
    assert sorted(srv.data_dir.glob(f"versions/*/{digest}")) == folders
    assert predict(bob, "bob/victim", "still here")["output"] == "still here"


def gzip_bomb(unpacked: int) -> bytes:
    """A .tar.gz of one file of `unpacked` zero bytes, about 1,000 times smaller."""
    header = tarfile.TarInfo("cog.yaml")
    header.size = unpacked
    block = gzip.compress(bytes(MiB), compresslevel=9)
    parts = [gzip.compress(header.tobuf(format=tarfile.PAX_FORMAT))]
    parts += [block] * (unpacked // MiB)
    parts.append(gzip.compress(bytes(1024)))
    return b"".join(parts)


def test_bomb_is_refused_with_413_and_nothing_stored(world: dict) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    bob = client(srv, world["tokens"]["bob"])
    bomb = gzip_bomb(90 * MiB)  # under the size limit, 1,000:1
    assert len(bomb) < MiB
    created = bob.post("/v1/models", json={"owner": "bob", "name": "bombed"})
    assert created.status_code == 201, created.text
    before = disk(srv)
    for accept in ("application/json", "application/x-ndjson"):  # the CLI streams the log
        r = bob.post(
            "/v1/models/bob/bombed/versions",
            content=bomb,
            headers={"Content-Type": "application/gzip", "Accept": accept},
        )
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "decompression bomb" in r.json()["detail"]
        assert disk(srv) == before
    assert bob.get("/v1/models/bob/bombed/versions").json()["results"] == []


def test_oversize_bundle_is_refused_readably_by_the_cli(world: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    model = distinct_model(tmp_path, "oversize")
    for i in range(4):  # 4 x 32 MiB of incompressible weights: over the 96 MiB limit
        (model / f"weights-{i}.bin").write_bytes(os.urandom(32 * MiB))
    before = disk(srv)
    started = time.monotonic()
    result = srv.cli("push", str(model), "bob/big", "--token", world["tokens"]["bob"])
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "more than 100663296 bytes" in out and "MODELYARD_MAX_BUNDLE_UNPACKED_BYTES" in out
    assert "HTTP 413" in out and "Traceback" not in out
    assert time.monotonic() - started < 120
    assert disk(srv) == before
    bob = client(srv, world["tokens"]["bob"])
    assert bob.get("/v1/models/bob/big/versions").json()["results"] == []


def test_too_many_files_is_refused_readably_by_the_cli(world: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    srv: Server = world["server"]
    model = distinct_model(tmp_path, "crowded")
    for i in range(MAX_FILES):
        (model / f"part-{i:03}.txt").write_text(str(i))
    before = disk(srv)
    result = srv.cli("push", str(model), "bob/crowded", "--token", world["tokens"]["bob"])
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert f"more than {MAX_FILES} files" in out and "MODELYARD_MAX_BUNDLE_FILES" in out
    assert "HTTP 400" in out and "Traceback" not in out
    assert disk(srv) == before
    bob = client(srv, world["tokens"]["bob"])
    assert bob.get("/v1/models/bob/crowded/versions").json()["results"] == []


def disk(srv: Server) -> tuple[list[str], list[str]]:
    """What pushes leave on disk: version folders and staging folders."""
    versions = sorted(
        p.relative_to(srv.data_dir).as_posix() for p in srv.data_dir.glob("versions/*/*")
    )
    staging = sorted(p.name for p in (srv.data_dir / "tmp").glob("push-*"))
    return versions, staging


def predict(http: httpx.Client, model: str, text: str) -> dict:  # type: ignore[type-arg]
    r = http.post(
        f"/v1/models/{model}/predictions",
        json={"input": {"text": text}},
        headers={"Prefer": "wait=60"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    deadline = time.monotonic() + 300
    while body["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
        body = http.get(f"/v1/predictions/{body['id']}").json()
    assert body["status"] == "succeeded", body
    return body  # type: ignore[no-any-return]
