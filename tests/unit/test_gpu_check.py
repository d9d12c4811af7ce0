"""bench/gpu_check.sh: it needs a GPU to run, so here it is only parsed and asked for usage."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.sh"


def test_gpu_check_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(SCRIPT, os.X_OK)


def test_gpu_check_script_asks_for_a_wheelhouse() -> None:
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "WHEELHOUSE" in result.stderr


def test_gpu_check_builds_offline_with_the_platform_packages() -> None:
    text = SCRIPT.read_text()
    for needed in (
        "--no-index",
        "--find-links",
        "PIP_NO_INDEX=1",
        "MODELYARD_SYSTEM_SITE_PACKAGES=1",
    ):
        assert needed in text
    assert "torch.cuda.get_device_name()" in text and '.to("cuda")' in text
