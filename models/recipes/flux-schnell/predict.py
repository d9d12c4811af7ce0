"""FLUX.1 [schnell]: text-to-image in 1 to 4 steps (diffusers FluxPipeline, bfloat16, CUDA)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path as FsPath
from typing import Any

import modelyard_weights as weights_lib
from cog import BaseRunner, Input, Path

ASPECT_RATIOS = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
}
EXPECTED = "a diffusers folder of FLUX.1-schnell (model_index.json, transformer/, vae/, ...)"


class Runner(BaseRunner):
    def setup(self, weights: str | None = None) -> None:
        path = weights_lib.resolve(weights, recipe="flux-schnell", expect=EXPECTED)
        import torch
        from diffusers import FluxPipeline

        if not torch.cuda.is_available():
            raise RuntimeError("flux-schnell needs an NVIDIA GPU; none is visible.")
        self.torch = torch
        self.pipe: Any = FluxPipeline.from_pretrained(str(path), torch_dtype=torch.bfloat16)
        self.pipe.to("cuda")

    def run(
        self,
        prompt: str = Input(description="What to draw."),
        aspect_ratio: str = Input(
            description="Width to height.", choices=list(ASPECT_RATIOS), default="1:1"
        ),
        num_outputs: int = Input(description="Images to make.", default=1, ge=1, le=4),
        num_inference_steps: int = Input(
            description="Denoising steps (schnell is distilled for 4).", default=4, ge=1, le=4
        ),
        seed: int | None = Input(description="Random seed; empty for a random one.", default=None),
        output_format: str = Input(
            description="Image file format.", choices=["webp", "png", "jpg"], default="webp"
        ),
        output_quality: int = Input(
            description="Quality for webp and jpg, 0 to 100.", default=90, ge=0, le=100
        ),
    ) -> list[Path]:
        """Generate `num_outputs` images for `prompt`."""
        width, height = ASPECT_RATIOS[aspect_ratio]
        seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        print(f"Using seed {seed}")
        generator = self.torch.Generator("cuda").manual_seed(seed)
        images = self.pipe(
            prompt=[prompt] * num_outputs,
            width=width,
            height=height,
            num_inference_steps=num_inference_steps,
            guidance_scale=0.0,
            max_sequence_length=256,
            generator=generator,
        ).images
        return [save(image, i, output_format, output_quality) for i, image in enumerate(images)]


def save(image: Any, index: int, output_format: str, quality: int) -> Path:
    """Write one PIL image to a temporary file in `output_format`."""
    target = FsPath(tempfile.mkdtemp()) / f"out-{index}.{output_format}"
    options = {} if output_format == "png" else {"quality": quality}
    image.save(
        target, format="JPEG" if output_format == "jpg" else output_format.upper(), **options
    )
    return Path(target)
