"""Hardware inventory and the GPU allocator."""

from __future__ import annotations

import pytest

from modelyard.runtime.hardware import (
    GpuAllocator,
    gpus_per_instance,
    inventory,
    parse_inventory,
    sku_for_gpu_name,
)


def test_declared_inventory_numbers_gpus_across_skus() -> None:
    skus = {h.sku: h for h in inventory("gpu-t4=2,gpu-l40s=1")}
    assert list(skus) == ["cpu", "gpu-t4", "gpu-l40s"]
    assert skus["cpu"].gpu_indexes == () and not skus["cpu"].is_gpu
    assert skus["gpu-t4"].gpu_indexes == (0, 1)
    assert skus["gpu-l40s"].gpu_indexes == (2,)
    assert skus["gpu-t4"].name == "Nvidia T4 GPU"


def test_bad_inventory_says_how_to_write_it() -> None:
    with pytest.raises(ValueError, match="gpu-t4=2"):
        parse_inventory("t4")


def test_gpu_names_map_to_replicate_skus() -> None:
    assert sku_for_gpu_name("NVIDIA H100 80GB HBM3") == "gpu-h100"
    assert sku_for_gpu_name("Tesla T4") == "gpu-t4"
    assert sku_for_gpu_name("NVIDIA L40S") == "gpu-l40s"


def test_gpus_per_instance() -> None:
    assert gpus_per_instance("cpu") == 0
    assert gpus_per_instance("gpu-t4") == 1
    assert gpus_per_instance("gpu-a40-large-2x") == 2


def test_allocator_never_hands_out_a_gpu_twice() -> None:
    gpus = GpuAllocator(inventory("gpu-t4=2,gpu-l40s=1"))
    assert gpus.total("gpu-t4") == 2 and gpus.total("gpu-h100") == 0
    first, second = gpus.take("gpu-t4", 1), gpus.take("gpu-t4", 1)
    assert {first, second} == {(0,), (1,)}
    assert gpus.take("gpu-t4", 1) is None
    assert gpus.take("gpu-l40s", 2) is None  # only one of that kind
    assert gpus.take("gpu-l40s", 1) == (2,)
    assert gpus.take("cpu", 0) == ()
    assert first is not None
    gpus.give_back(first)
    assert gpus.free("gpu-t4") == first
    assert gpus.take("gpu-t4", 1) == first
    assert gpus.taken == frozenset({0, 1, 2})
