"""The official npm `replicate` client (1.4.0) under the machine's Node.js."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from tests.integration.harness import REPO, Server

JS = REPO / "tests" / "js"


def test_npm_client(server: Server) -> None:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "replicate").exists():
        pytest.fail(
            "Node.js and tests/js/node_modules are needed: run the suite through `make test`."
        )
    result = subprocess.run(
        [node, str(JS / "client_check.mjs"), server.url, server.token],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=JS,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["run"] == "from node"
    assert out["stream"] == ["js", " world", "\nsecond line", "!"]
    data = b"node bytes"
    assert out["file"] == f"{len(data)}:{hashlib.sha256(data).hexdigest()}"
    assert out["webhookValid"] is True
    assert out["webhookTampered"] is False
