"""The `replicate-stainless==0.6.0` client, from its own virtualenv (it shares the package name)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.harness import REPO, Server

STAINLESS_PYTHON = REPO / ".venv-stainless" / "bin" / "python"

SCRIPT = r"""
import json, sys, time
from replicate import Replicate
url, token = sys.argv[1], sys.argv[2]
client = Replicate(bearer_token=token, base_url=url + "/v1")
out = {}
out["run"] = client.run("admin/echo", input={"text": "stainless"})
p = client.predictions.create(version="admin/echo", input={"text": "created"})
out["created_status"] = p.status
for _ in range(300):
    p = client.predictions.get(prediction_id=p.id)
    if p.status in ("succeeded", "failed", "canceled"):
        break
    time.sleep(0.1)
out["get"] = [p.status, p.output]
slow = client.predictions.create(version="admin/sleeper", input={"seconds": 60})
for _ in range(600):
    if client.predictions.get(prediction_id=slow.id).status == "processing":
        break
    time.sleep(0.1)
out["cancel"] = client.predictions.cancel(prediction_id=slow.id).status
page = client.predictions.list()
out["listed"] = len(page.results)
print(json.dumps(out))
"""


def test_stainless_client(server: Server) -> None:
    if not STAINLESS_PYTHON.exists():
        pytest.fail("The stainless virtualenv is missing: run the suite through `make test`.")
    result = subprocess.run(
        [str(STAINLESS_PYTHON), "-c", SCRIPT, server.url, server.token],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["run"] == "stainless"
    assert out["created_status"] == "starting"
    assert out["get"] == ["succeeded", "created"]
    assert out["cancel"] == "canceled"
    assert out["listed"] >= 3
