"""A pushed model is an attacker: what the sandbox must keep from it (issue 9, findings 1 and 3).

The `snoop` model tries to read the platform's secret key, database and files, the
environment of every process it can see, to dial the platform's and the databases' ports, and
to write into its own source and environment. Each attempt must be refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import MODELS, Server, processes_with

SENTINEL = "modelyard-sandbox-sentinel-7f3a"
# Another user of the machine probes with the system's interpreter (pyenv's is closed to it).
UPLOAD_URL = re.compile(rb"/internal/uploads/[A-Za-z0-9_-]{8,}")
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> Server:
    assert shutil.which("bwrap"), "bubblewrap is missing: `make test` installs it (Debian)"
    tmp = tmp_path_factory.mktemp("sandbox")
    srv = Server(
        data_dir=tmp / "data",
        envs_dir=shared_envs_dir,
        settings={"MODELYARD_SANDBOX": "bwrap", "SNOOP_SENTINEL": SENTINEL},
    ).start()
    srv.versions = {  # type: ignore[attr-defined]
        "snoop": srv.push("snoop", "admin/snoop"),
        "echo": srv.push("echo", "admin/echo"),
    }
    yield srv  # type: ignore[misc]
    srv.stop()


def snoop(server: Server, **input: str) -> dict:  # type: ignore[type-arg]
    with server.http() as http:
        response = http.post(
            "/v1/models/admin/snoop/predictions", json={"input": input}, headers={"Prefer": "wait"}
        )
    body = response.json()
    assert body["status"] == "succeeded", body
    return json.loads(body["output"])  # type: ignore[no-any-return]


def test_a_model_cannot_read_the_platforms_secrets_database_or_files(sandboxed: Server) -> None:
    data = sandboxed.data_dir
    echo_source = next(p for p in (data / "versions").rglob("predict.py") if "snoop" not in str(p))
    targets = [
        data / "secret.key",
        data / "modelyard.db",
        data / "modelyard.db-wal",
        echo_source,  # another version's source
        Path(f"/proc/{sandboxed.process.pid}/environ"),  # type: ignore[union-attr]
        Path("/etc/shadow"),
        Path.home() / ".bashrc",
    ]
    report = snoop(sandboxed, paths=",".join(str(t) for t in targets))
    for path, outcome in report["reads"].items():
        assert outcome.startswith("refused"), f"the model read {path}: {outcome}"


def test_a_model_runs_as_an_unprivileged_user_with_a_clean_environment(sandboxed: Server) -> None:
    report = snoop(sandboxed)
    assert report["uid"] not in (0, os.getuid()), report["uid"]
    assert report["gid"] != 0 and 0 not in report["groups"]
    leaked = [k for k in report["env"] if k.startswith(("MODELYARD_", "REPLICATE_", "SNOOP_"))]
    assert not leaked, f"platform variables reached the model: {leaked}"
    assert SENTINEL not in json.dumps(report["env"])
    assert report["cwd"] == "/src"
    # Its own PID namespace: only the sandbox's handful of processes, none of the platform's.
    assert report["pids"] < 10, report["pids"]
    for pid, outcome in report["environs"].items():
        assert SENTINEL not in outcome, f"/proc/{pid}/environ showed the platform's environment"


def test_a_model_cannot_reach_the_platform_or_the_databases(sandboxed: Server) -> None:
    ports = [sandboxed.port, 5432, 6379]
    report = snoop(sandboxed, ports=",".join(str(p) for p in ports))
    for port, outcome in report["dials"].items():
        assert outcome.startswith("refused"), f"the model reached 127.0.0.1:{port}"


def test_a_model_cannot_change_its_source_or_environment(sandboxed: Server) -> None:
    report = snoop(sandboxed, plant="/src/predict.py,/src/__pycache__/x.pyc,/venv/planted")
    for path, outcome in report["writes"].items():
        assert outcome.startswith("refused"), f"the model wrote {path}"


def test_instances_listen_on_no_host_port_and_only_the_platform_reaches_them(
    sandboxed: Server,
) -> None:
    snoop(sandboxed)  # an instance is up
    pids = list(processes_with(str(sandboxed.data_dir)))
    coglets = [p for p in pids if b"coglet" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert coglets, "no model process found"
    # No socket of the model's processes listens in the host's network namespace.
    listening = _listening_inodes()
    for pid in _tree(coglets):
        for inode in _socket_inodes(pid):
            assert inode not in listening, f"model process {pid} listens on a host TCP port"
    # Its Unix socket refuses any other user of the machine.
    socket_path = next((sandboxed.data_dir / "tmp").rglob("modelyard-instance.sock"))
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n s.connect(sys.argv[1]); print('CONNECTED')\n"
        "except OSError as e: print('refused', type(e).__name__)\n"
    )
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PYTHON, "-c", probe]
        + [str(socket_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.stdout.startswith("refused"), done.stdout + done.stderr


def test_no_credential_on_any_command_line(sandboxed: Server) -> None:
    snoop(sandboxed)
    for pid in processes_with(str(sandboxed.data_dir)):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert not UPLOAD_URL.search(cmdline), f"process {pid} shows an upload URL"


def run_image(server: Server, http: httpx.Client) -> dict:  # type: ignore[type-arg]
    """Push the image model and run it; its PNG output must download."""
    version = server.push("image", "admin/image")
    body = http.post(
        "/v1/predictions",
        json={"version": version, "input": {"size": 4}},
        headers={"Prefer": "wait"},
    ).json()
    assert body["status"] == "succeeded", body
    assert http.get(body["output"]).content.startswith(b"\x89PNG")
    return body  # type: ignore[no-any-return]


def test_outputs_still_upload_from_the_sandbox(sandboxed: Server) -> None:
    with sandboxed.http() as http:
        run_image(sandboxed, http)


def _tree(roots: list[int]) -> set[int]:
    found, pending = set(), list(roots)
    while pending:
        pid = pending.pop()
        if pid in found:
            continue
        found.add(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                pending += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _listening_inodes() -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def test_without_the_sandbox_models_run_with_a_loud_warning(
    tmp_path: Path, shared_envs_dir: Path
) -> None:
    srv = Server(
        data_dir=tmp_path / "data", envs_dir=shared_envs_dir, settings={"MODELYARD_SANDBOX": "none"}
    ).start()
    try:
        with srv.http() as http:
            body = run_image(srv, http)
            # Uploads need the token of an instance running that very prediction.
            forged = http.put(
                "/internal/uploads/not-a-token/x.png",
                content=b"x",
                headers={"X-Prediction-ID": body["id"]},
            )
            assert forged.status_code == 404
    finally:
        srv.stop()
    assert "MODELS RUN UNSANDBOXED" in srv.log_path.read_text()


def test_local_weights_outside_the_allowed_folders_are_refused(
    sandboxed: Server, tmp_path: Path
) -> None:
    # As weights, the data directory itself would be mounted into the model's sandbox.
    pushed = sandboxed.cli(
        "models",
        "import",
        str(MODELS / "weights-echo"),
        "admin/w",
        "--weights",
        str(sandboxed.data_dir),
    )
    assert pushed.returncode != 0
    assert "MODELYARD_WEIGHTS_DIRS" in pushed.stdout + pushed.stderr
    # The same, recorded inside the bundle itself.
    smuggled = tmp_path / "smuggled"
    shutil.copytree(MODELS / "weights-echo", smuggled)
    (smuggled / ".modelyard").mkdir()
    (smuggled / ".modelyard" / "weights.json").write_text(
        json.dumps({"weights": str(sandboxed.data_dir)})
    )
    pushed = sandboxed.cli("push", str(smuggled), "admin/w")
    assert pushed.returncode != 0
    assert "MODELYARD_WEIGHTS_DIRS" in pushed.stdout + pushed.stderr
    # And set by the model's own cog.yaml: the platform owns COG_WEIGHTS.
    (smuggled / ".modelyard" / "weights.json").unlink()
    config = (smuggled / "cog.yaml").read_text()
    (smuggled / "cog.yaml").write_text(
        config + f"environment:\n  - COG_WEIGHTS={sandboxed.data_dir}\n"
    )
    pushed = sandboxed.cli("push", str(smuggled), "admin/w")
    assert pushed.returncode != 0
    assert "COG_WEIGHTS" in pushed.stdout + pushed.stderr


def test_the_instance_facing_socket_serves_only_uploads_and_deliveries(
    sandboxed: Server,
) -> None:
    # A model reaches this socket through its relay: nothing else of the API is there.
    folder = os.open(sandboxed.data_dir / "run", os.O_PATH | os.O_DIRECTORY)
    try:
        transport = httpx.HTTPTransport(uds=f"/proc/self/fd/{folder}/upload.sock")
        headers = {"Authorization": f"Bearer {sandboxed.token}"}
        with httpx.Client(transport=transport, base_url="http://sandbox", headers=headers) as c:
            for path in ("/v1/models", "/v1/account", "/health", "/openapi.json"):
                refused = c.get(path)
                assert refused.status_code == 404, (path, refused.text)
                assert refused.json()["detail"] == "Not available to model instances."
            # The two routes it is for answer as themselves (an unknown link, token).
            assert "invalid" in c.get("/v1/deliveries/x?expiry=1&signature=x").text
            upload = c.put("/internal/uploads/x/y", content=b"", headers={"X-Prediction-ID": "a"})
            assert upload.json()["detail"] == "Unknown upload URL."
    finally:
        os.close(folder)


def test_a_path_in_the_models_own_environment_is_not_mounted(
    sandboxed: Server, tmp_path: Path
) -> None:
    # cog.yaml `environment` is the model author's: naming another version's source folder
    # (world-readable, unlike the data directory) must not make it visible; only COG_WEIGHTS,
    # checked at push, becomes a mount.
    echo = next(
        p for p in (sandboxed.data_dir / "versions").rglob("predict.py") if "snoop" not in str(p)
    )
    model = tmp_path / "snoop-env"
    shutil.copytree(MODELS / "snoop", model)
    config = (model / "cog.yaml").read_text()
    (model / "cog.yaml").write_text(config + f"environment:\n  - DATA={echo.parent}\n")
    version = sandboxed.push(model, "admin/snoop-env")
    with sandboxed.http() as http:
        body = http.post(
            "/v1/predictions",
            json={"version": version, "input": {"paths": str(echo)}},
            headers={"Prefer": "wait"},
        ).json()
    assert body["status"] == "succeeded", body
    report = json.loads(body["output"])
    assert report["env"]["DATA"] == str(echo.parent)
    assert report["reads"][str(echo)].startswith("refused"), report["reads"]
