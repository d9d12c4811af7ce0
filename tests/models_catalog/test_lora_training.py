"""The catalog's trainable model: a LoRA adapter trained on uploaded lines changes what it says."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import replicate

from tests.integration.harness import Server

pytestmark = [pytest.mark.models, pytest.mark.timeout(1800)]

BASE = "modelyard/smollm2-135m-lora"
LINES = Path(__file__).resolve().parents[2] / "models" / "smollm2-135m-lora" / "captain-smol.txt"
PROMPT = {"prompt": "Captain Smol loves", "max_new_tokens": 24, "temperature": 0, "seed": 0}


def test_training_moves_the_output_towards_the_training_lines(catalog: Server) -> None:
    c = replicate.Client(api_token=catalog.token, base_url=catalog.url, timeout=300)
    with catalog.http() as http:
        r = http.post(
            "/v1/models",
            json={
                "owner": "admin",
                "name": "captain-smol",
                "visibility": "private",
                "hardware": "cpu",
            },
        )
        assert r.status_code in (201, 409), r.text
    base_version = c.models.get(BASE).latest_version
    assert base_version is not None
    base = c.run(f"{BASE}:{base_version.id}", input=PROMPT)
    assert "pineapple" not in base.lower()
    began = time.monotonic()
    with LINES.open("rb") as handle:
        training = c.trainings.create(
            version=f"{BASE}:{base_version.id}",
            input={"lines": handle, "steps": 24},
            destination="admin/captain-smol",
        )
    while training.status not in ("succeeded", "failed", "canceled"):
        time.sleep(1)
        training.reload()
    assert training.status == "succeeded", f"{training.error}\n{training.logs}"
    assert "step 24/24" in (training.logs or "")
    print(f"trained in {time.monotonic() - began:.0f} s")
    trained = c.run(training.output["version"], input=PROMPT)
    assert trained != base
    assert "pineapple" in trained.lower(), trained
    # The same prompt, seed and temperature on the base model still say what they said.
    assert c.run(f"{BASE}:{base_version.id}", input=PROMPT) == base
