"""Hardware this installation can run on: CPU always, NVIDIA GPUs detected or declared."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterable
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


_MULTI_GPU = re.compile(r"-(\d+)x$")


@dataclass(frozen=True)
class HardwareSku:
    """A kind of hardware offered here; GPU SKUs list the device indexes they own."""

    sku: str
    name: str
    gpu_indexes: tuple[int, ...] = ()

    @property
    def is_gpu(self) -> bool:
        return self.sku != "cpu"


def gpus_per_instance(sku: str) -> int:
    """Whole GPUs one instance of `sku` gets: 0 for cpu, N for `...-Nx` SKUs, else 1."""
    if sku == "cpu":
        return 0
    match = _MULTI_GPU.search(sku)
    return int(match[1]) if match else 1


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
    """The SKUs to offer: declared inventory wins over detection.

    Declared GPUs are numbered 0..count-1 in the order given, continuing across SKUs
    (`gpu-t4=2,gpu-l40s=1` → T4s 0 and 1, the L40S 2), as devices of one machine are.
    """
    skus = [HardwareSku("cpu", SKU_NAMES["cpu"])]
    if declared:
        start = 0
        for sku, count in parse_inventory(declared).items():
            indexes = tuple(range(start, start + count))
            start += count
            skus.append(HardwareSku(sku, SKU_NAMES.get(sku, sku), indexes))
        return skus
    by_sku: dict[str, list[int]] = {}
    for index, name in enumerate(detect_gpus()):
        by_sku.setdefault(sku_for_gpu_name(name), []).append(index)
    for sku, detected in by_sku.items():
        skus.append(HardwareSku(sku, SKU_NAMES.get(sku, sku), tuple(detected)))
    return skus


class GpuAllocator:
    """Hands out whole GPUs: an index is never held by two instances at once.

    `take` returns indexes (lowest first) or None when too few are free; `give_back`
    returns them once the instance holding them is really gone.

        gpus = GpuAllocator(inventory("gpu-t4=2"))
        first = gpus.take("gpu-t4", 1)  # (0,)
        gpus.give_back(first)
    """

    def __init__(self, skus: Iterable[HardwareSku]) -> None:
        self._sku_of: dict[int, str] = {}
        for hardware in skus:
            for index in hardware.gpu_indexes:
                self._sku_of[index] = hardware.sku
        self._taken: set[int] = set()

    def total(self, sku: str) -> int:
        return sum(1 for s in self._sku_of.values() if s == sku)

    def free(self, sku: str) -> tuple[int, ...]:
        return tuple(
            sorted(i for i, s in self._sku_of.items() if s == sku and i not in self._taken)
        )

    def take(self, sku: str, count: int) -> tuple[int, ...] | None:
        if count <= 0:
            return ()
        free = self.free(sku)
        if len(free) < count:
            return None
        chosen = free[:count]
        self._taken.update(chosen)
        return chosen

    def give_back(self, indexes: Iterable[int]) -> None:
        for index in indexes:
            if index not in self._taken:
                logger.error("GPU %d given back but it was not taken", index)
            self._taken.discard(index)

    @property
    def taken(self) -> frozenset[int]:
        return frozenset(self._taken)
