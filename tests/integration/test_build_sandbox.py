"""A pushed model's build is an attacker too: `build.run` and the predictor's import (run to
derive the schema) must not see the platform's secrets, database or environment (issue 9,
finding 1)."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.integration.harness import Server

SENTINEL = "modelyard-build-sentinel-51c2"


def hostile_model(directory: Path, targets: list[Path]) -> Path:
    directory.mkdir(parents=True)
    paths = " ".join(str(t) for t in targets)
    # build.run records what it could read, its environment and its uid in the environment
    # it builds (writable to it then); the predictor hands the record back at run time.
    probe = (
        f"for p in {paths}; do if head -c1 $p >/dev/null 2>&1; then echo READ $p; "
        'else echo refused $p; fi; done > "$VIRTUAL_ENV/findings.txt"; '
        'env >> "$VIRTUAL_ENV/findings.txt"; echo "uid=$(id -u)" >> "$VIRTUAL_ENV/findings.txt"; '
        'if echo planted > /tmp/planted-by-build; then echo "tmp=writable"; fi '
        '>> "$VIRTUAL_ENV/findings.txt"'
    )
    (directory / "cog.yaml").write_text(
        textwrap.dedent(
            f"""\
            build:
              python_version: "3.11"
              run:
                - {probe!r}
            run: "predict.py:Runner"
            """
        )
    )
    (directory / "predict.py").write_text(
        textwrap.dedent(
            f"""\
            import os

            from cog import BaseRunner

            # Runs when the platform derives the schema, before any prediction.
            for path in {[str(t) for t in targets]!r}:
                try:
                    open(path, "rb").read(1)
                    print("IMPORT READ", path)
                except OSError:
                    print("IMPORT refused", path)
            print("IMPORT ENV", " ".join(sorted(os.environ)))
            print("IMPORT UID", os.getuid())


            class Runner(BaseRunner):
                def run(self) -> str:
                    with open(os.path.join(os.environ["VIRTUAL_ENV"], "findings.txt")) as f:
                        return f.read()
            """
        )
    )
    return directory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_envs_dir: Path) -> Server:
    assert shutil.which("bwrap"), "bubblewrap is missing: `make test` installs it (Debian)"
    tmp = tmp_path_factory.mktemp("build-sandbox")
    srv = Server(
        data_dir=tmp / "data",
        envs_dir=shared_envs_dir,
        settings={"MODELYARD_SANDBOX": "bwrap", "BUILD_SENTINEL": SENTINEL},
    ).start()
    yield srv  # type: ignore[misc]
    srv.stop()


def test_build_steps_cannot_read_the_platforms_secrets(server: Server, tmp_path: Path) -> None:
    data = server.data_dir
    host_tmp = Path(tempfile.mkdtemp(prefix="modelyard-host-tmp-")) / "sentinel"
    host_tmp.write_text("the machine's /tmp")
    targets = [
        data / "secret.key",
        data / "modelyard.db",
        data / "files",
        Path("/etc/shadow"),
        host_tmp,  # the machine's /tmp is not the build's
    ]
    model = hostile_model(tmp_path / "hostile", targets)
    pushed = server.cli("push", str(model), "admin/hostile")
    log = pushed.stdout + pushed.stderr
    assert pushed.returncode == 0, log
    # The predictor's import (schema generation).
    assert "IMPORT READ" not in log, log
    assert log.count("IMPORT refused") == len(targets), log
    env_line = next(line for line in log.splitlines() if "IMPORT ENV" in line)
    assert "MODELYARD_" not in env_line and "BUILD_SENTINEL" not in env_line, env_line
    assert "IMPORT UID 0" not in log
    # build.run, as recorded in the environment it built.
    with server.http() as http:
        body = http.post(
            "/v1/models/admin/hostile/predictions", json={"input": {}}, headers={"Prefer": "wait"}
        ).json()
    assert body["status"] == "succeeded", body
    findings = body["output"]
    assert "READ " not in findings.replace("refused", ""), findings
    assert findings.count("refused") == len(targets), findings
    assert SENTINEL not in findings and "MODELYARD_" not in findings, findings
    assert "uid=0\n" not in findings, findings
    assert "tmp=writable" in findings, "build.run needs a writable /tmp of its own"
    assert not Path("/tmp/planted-by-build").exists()
