"""Hardware this installation can run on: CPU always, NVIDIA GPUs detected or declared."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

logger = logging.getLogger(__name__)

SKU_NAMES = {
    "cpu": "CPU",
    "gpu-t4": "Nvidia T4 GPU",
    "gpu-l40s": "Nvidia L40S GPU",
    "gpu-a40-large": "Nvidia A40 (Large) GPU",
    "gpu-a100-large": "Nvidia A100 (80GB) GPU",
    "gpu-h100": "Nvidia H100 GPU",
    "gpu-h200": "Nvidia H200 GPU",
}

# Substrings of `nvidia-smi` GPU names, checked in order.
_GPU_PATTERNS = (
    ("H200", "gpu-h200"),
    ("H100", "gpu-h100"),
    ("A100", "gpu-a100-large"),
    ("L40S", "gpu-l40s"),
    ("A40", "gpu-a40-large"),
    ("T4", "gpu-t4"),
)


@dataclass(frozen=True)
class HardwareSku:
    sku: str
    name: str
    gpu_indexes: tuple[int, ...] = ()


def sku_for_gpu_name(name: str) -> str:
    for pattern, sku in _GPU_PATTERNS:
        if pattern in name.upper():
            return sku
    return "gpu-" + "".join(c for c in name.lower().replace("nvidia", "") if c.isalnum())


def parse_inventory(value: str) -> dict[str, int]:
    """`gpu-t4=2,gpu-h100=1` → {"gpu-t4": 2, "gpu-h100": 1}; raises ValueError with what to fix."""
    inventory: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        sku, sep, count = part.partition("=")
        if not sep or not sku.startswith("gpu-") or not count.isdigit():
            raise ValueError(f"Hardware must look like gpu-t4=2 (sku=count), got {part!r}.")
        inventory[sku.strip()] = int(count)
    return inventory


def detect_gpus() -> list[str]:
    """Names of the NVIDIA GPUs on this machine, by index; empty when there are none."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        try:
            return [
                str(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)))
                for i in range(pynvml.nvmlDeviceGetCount())
            ]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML here: fall back to nvidia-smi
        pass
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def inventory(declared: str = "") -> list[HardwareSku]:
    """The SKUs to offer: declared inventory wins over detection."""
    skus = [HardwareSku("cpu", SKU_NAMES["cpu"])]
    if declared:
        start = 0
        for sku, count in parse_inventory(declared).items():
            indexes = tuple(range(start, start + count))
            skus.append(HardwareSku(sku, SKU_NAMES.get(sku, sku), indexes))
        return skus
    by_sku: dict[str, list[int]] = {}
    for index, name in enumerate(detect_gpus()):
        by_sku.setdefault(sku_for_gpu_name(name), []).append(index)
    for sku, indexes in by_sku.items():
        skus.append(HardwareSku(sku, SKU_NAMES.get(sku, sku), tuple(indexes)))
    return skus
